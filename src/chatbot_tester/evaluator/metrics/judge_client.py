"""The judge's connection to its backend, shared by every judge metric of one evaluation.

Judge metrics with the same backend spec share one backend instance, one concurrency limit,
the process-wide rate limiter for the account and the workspace's response cache; the pool
lives in ``MetricContext.extras`` and is reference counted, so the last metric's ``aclose``
closes the backend and the cache. Calls go through ``common.calls.client.BackendClient`` (timeout,
retries, limits, cache). Verdicts are cached with an ``accept`` check so that only
replies that parsed into a valid verdict are stored: an unparseable reply is retried on the
next evaluation instead of being served from the cache forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.backends.base import ChatBackend, backend_registry
from chatbot_tester.common.config import JudgeConfig
from chatbot_tester.common.hashing import stable_hash
from chatbot_tester.common.schemas import ChatRequest, Message
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics.base import MetricContext

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.calls.policy import CallLimits, CallOutcome
    from chatbot_tester.evaluator.report_model import Spend

__all__ = [
    "JUDGE_LIMITS_KEY",
    "JudgeClient",
    "JudgeLimits",
    "JudgePool",
    "JudgeReply",
    "JudgeSpend",
    "absorb_spend",
    "judge_spend",
    "resolve_judge_config",
    "spend_counters",
]

JUDGE_LIMITS_KEY = "chatbot_tester.judge.limits"
"""``MetricContext.extras`` key of a ``JudgeLimits`` that replaces the judges' local limits
(``evaluator.executor: ray`` shares them across worker processes this way)."""
JudgeLimits = Callable[[str, JudgeConfig, dict[str, Any]], "CallLimits"]
"""``(client key, judge config, backend identity) -> CallLimits`` for one judge client."""
_POOL_KEY = "chatbot_tester.judge.pool"
_SPEND_KEY = "chatbot_tester.judge.spend"
_CACHE_SALT = "judge-verdict-v1"


def resolve_judge_config(
    context: MetricContext,
    *,
    backend: str | None,
    model: str | None,
    options: dict[str, Any] | None,
    params: dict[str, Any] | None,
    metric: str,
) -> JudgeConfig:
    """The judge a metric uses: its own overrides on top of ``evaluator.judge``.

    A metric naming its own ``backend`` does not inherit the pipeline judge's options (they
    belong to another backend); ``model`` and ``params`` override field by field.
    """
    base = context.judge
    if base is None and backend is None:
        raise ConfigError(
            f"metric '{metric}' needs an LLM judge: set evaluator.judge in the pipeline "
            "(e.g. evaluator.judge: {backend: openai, model: gpt-4o-mini}) or give the metric "
            "its own 'backend' and 'model'"
        )
    where = f"metric '{metric}' judge"
    if base is None:
        assert backend is not None
        spec = JudgeConfig(backend=backend, model=model, options=options or {}, params=params or {})
        return spec.resolved(where)
    update: dict[str, Any] = {}
    if backend is not None and backend != base.backend:
        update.update(backend=backend, options=options or {})
    elif options is not None:
        update["options"] = {**base.options, **options}
    if model is not None:
        update["model"] = model
    if params is not None:
        update["params"] = {**base.params, **params}
    return (base.model_copy(update=update) if update else base).resolved(where)


class JudgeSpend:
    """What the judge calls of one evaluation cost, kept apart from the bot's spend.

    Lives in ``MetricContext.extras`` (it outlives the pool, which goes with its last
    client); the evaluator puts it into ``report.json`` as ``judge_spend``.
    """

    def __init__(self) -> None:
        from chatbot_tester.common.calls.cost import PriceTable

        self.prices = PriceTable()
        self.calls = self.cached = self.failed = self.unpriced = 0
        self.prompt = self.completion = self.total = 0
        self.usage_seen = self.estimated = False
        self.cost = 0.0
        self.priced = 0

    _COUNTERS = ("calls", "cached", "failed", "unpriced", "prompt", "completion", "total", "priced")

    def counters(self) -> dict[str, float | int | bool]:
        """The tallies as plain values (a worker process hands them to the driver)."""
        out: dict[str, float | int | bool] = {k: getattr(self, k) for k in self._COUNTERS}
        out.update(usage_seen=self.usage_seen, estimated=self.estimated, cost=self.cost)
        return out

    def absorb(self, counters: dict[str, float | int | bool]) -> None:
        """Add another process's ``counters()`` to these."""
        for key in self._COUNTERS:
            setattr(self, key, getattr(self, key) + int(counters.get(key, 0)))
        self.usage_seen |= bool(counters.get("usage_seen"))
        self.estimated |= bool(counters.get("estimated"))
        self.cost += float(counters.get("cost", 0.0))

    def add(self, outcome: CallOutcome, model: str | None) -> None:
        """Count one judge call's outcome."""
        if outcome.cached:
            self.cached += 1
            return
        if outcome.response is None:
            self.failed += 1
            return
        self.calls += 1
        usage = outcome.usage
        if usage is not None:
            self.usage_seen = True
            self.estimated |= usage.estimated
            prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
            self.prompt += prompt
            self.completion += completion
            self.total += (
                usage.total_tokens if usage.total_tokens is not None else prompt + completion
            )
        cost = self.prices.cost(model or outcome.response.model, usage)
        if cost is None:
            self.unpriced += 1
        else:
            self.priced += 1
            self.cost += cost

    def totals(self) -> Spend:
        """The report's ``judge_spend``."""
        from chatbot_tester.evaluator.report_model import Spend, TokenTotals

        tokens = (
            TokenTotals(
                prompt=self.prompt,
                completion=self.completion,
                total=self.total,
                estimated=self.estimated,
            )
            if self.usage_seen
            else TokenTotals()
        )
        return Spend(
            calls=self.calls,
            cached=self.cached,
            failed=self.failed,
            tokens=tokens,
            cost_usd=self.cost if self.priced else None,
            unpriced=self.unpriced,
        )


def judge_spend(context: MetricContext) -> Spend | None:
    """The judge spend of the evaluation run with ``context`` (``None``: no judge was used)."""
    spend = context.extras.get(_SPEND_KEY)
    return spend.totals() if isinstance(spend, JudgeSpend) else None


def spend_counters(context: MetricContext) -> dict[str, float | int | bool] | None:
    """The judge spend of ``context`` as plain values (``None``: no judge was used)."""
    spend = context.extras.get(_SPEND_KEY)
    return spend.counters() if isinstance(spend, JudgeSpend) else None


def absorb_spend(context: MetricContext, counters: dict[str, float | int | bool]) -> None:
    """Add a worker's ``spend_counters`` to the judge spend of ``context``."""
    spend = context.extras.get(_SPEND_KEY)
    if not isinstance(spend, JudgeSpend):
        spend = context.extras[_SPEND_KEY] = JudgeSpend()
    spend.absorb(counters)


@dataclass(frozen=True)
class JudgeReply:
    """The text of one judge call, or why there is none."""

    text: str | None
    error: str | None
    cached: bool = False


class JudgeClient:
    """One judge backend with its policy, limits and (optional) verdict cache."""

    def __init__(
        self,
        config: JudgeConfig,
        backend: ChatBackend,
        pool: JudgePool,
        limits: CallLimits | None = None,
    ) -> None:
        from chatbot_tester.common.calls.client import BackendClient
        from chatbot_tester.common.calls.limits import ConcurrencyLimit, shared_rate_limiter
        from chatbot_tester.common.calls.policy import CallLimits, CallPolicy

        self.config = config
        self.backend = backend
        self.pool = pool
        self.policy = CallPolicy(timeout_s=config.timeout_s, retries=config.retries)
        self.identity = backend.identity()
        if limits is None:
            limits = CallLimits(
                ConcurrencyLimit(config.concurrency),
                shared_rate_limiter(self.identity, config.rate_limit),
            )
        self.concurrency = limits.concurrency
        self.rate = limits.rate
        # The cache is attached on first use (the pool opens it lazily).
        self.client = BackendClient(
            backend, self.policy, limits, None, None, "evaluate", cache_salt=_CACHE_SALT
        )
        self.refs = 0

    @property
    def model(self) -> str | None:
        """The judge model name (``None``: the backend's default)."""
        return self.config.model

    async def ask(
        self,
        messages: list[Message],
        params: dict[str, Any],
        *,
        accept: Callable[[str], bool],
        item_id: str = "",
    ) -> JudgeReply:
        """One judge call; the reply is cached only when ``accept(text)`` says it is valid."""
        # The sample id rides along so a configured ``sample_id_header`` reaches the judge's
        # server like the runner's calls (the cache key ignores it: verdicts stay shared).
        request = ChatRequest(
            messages=messages, model=self.config.model, params=params, sample_id=item_id or None
        )
        client = self.client
        client.cache = self.pool.cache
        outcome = await client.call(request, item_id, accept=lambda r: accept(r.text))
        self.pool.spend.add(outcome, self.config.model)
        if outcome.cached and outcome.response is not None:
            return JudgeReply(outcome.response.text, None, cached=True)
        if outcome.response is None:
            err = outcome.error
            message = (
                f"judge call failed: {err.kind.value}: {err.message}"
                if err
                else "judge call failed"
            )
            return JudgeReply(None, message)
        return JudgeReply(outcome.response.text, None)


class JudgePool:
    """Judge clients keyed by spec plus the shared cache; lives in ``MetricContext.extras``."""

    def __init__(self, context: MetricContext) -> None:
        self.context = context
        self._clients: dict[str, JudgeClient] = {}
        self._cache: ResponseCache | None = None
        self._cache_opened = False
        spend = context.extras.get(_SPEND_KEY)
        if not isinstance(spend, JudgeSpend):
            spend = context.extras[_SPEND_KEY] = JudgeSpend()
        self.spend: JudgeSpend = spend
        """This evaluation's judge spend (shared by every pool of the context)."""

    @classmethod
    def of(cls, context: MetricContext) -> JudgePool:
        """The pool of this evaluation, created on first use."""
        pool = context.extras.get(_POOL_KEY)
        if not isinstance(pool, JudgePool):
            pool = context.extras[_POOL_KEY] = cls(context)
        return pool

    @property
    def cache(self) -> ResponseCache | None:
        """The workspace response cache, or ``None`` when caching is off or there is no workspace."""
        if not self._cache_opened:
            self._cache_opened = True
            if self.context.cache and self.context.workspace_dir is not None:
                from chatbot_tester.common.artifacts.cache import open_cache

                self._cache = open_cache(self.context.workspace_dir)
        return self._cache

    def acquire(self, config: JudgeConfig) -> JudgeClient:
        """A client for ``config`` (shared with other metrics using the same spec)."""
        key = stable_hash(config.model_dump(mode="json"))
        client = self._clients.get(key)
        if client is None:
            backend = backend_registry.create(
                config.backend, base_dir=self.context.base_dir, **config.resolved_options()
            )
            shared = self.context.extras.get(JUDGE_LIMITS_KEY)
            limits = None if shared is None else shared(key, config, backend.identity())
            client = self._clients[key] = JudgeClient(config, backend, self, limits)
        client.refs += 1
        return client

    async def release(self, client: JudgeClient) -> None:
        """Drop one reference; close the backend (and the cache with the last client)."""
        client.refs -= 1
        if client.refs > 0:
            return
        for key, value in list(self._clients.items()):
            if value is client:
                del self._clients[key]
        try:
            await client.backend.aclose()
        finally:
            if not self._clients:
                if self._cache is not None:
                    self._cache.close()
                self._cache = None
                self._cache_opened = False
                if self.context.extras.get(_POOL_KEY) is self:
                    del self.context.extras[_POOL_KEY]
