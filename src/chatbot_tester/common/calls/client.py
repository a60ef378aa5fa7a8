"""``BackendClient``: one logical call to a chat backend, the way every stage makes it.

The runner, the judge and the synthetic generator all call backends through a client; it
owns what a backend does not: the response cache, rate limits, concurrency, the per-attempt
timeout, retries with backoff and Retry-After, the call deadline, timing and usage. It never
raises for a backend fault (the outcome carries an ``ErrorInfo``), so a failing call becomes
a recorded error and never a crash. Cancellation (Ctrl-C) is not a backend fault and
propagates.

Per call:

- a cache lookup before the first attempt (a hit makes no backend call, ``cached=True``);
- before every attempt ``RateLimiter.acquire`` (estimated tokens) and a
  ``ConcurrencyLimit.slot()`` held only while the attempt is in flight, never during a
  backoff sleep, so the concurrency limit holds with retries included;
- a hard wall-clock limit per attempt (``timeout_s``, shortened to what is left of the
  call's ``deadline_s``) that also ends a server dripping bytes or sending keep-alives;
- retryable faults back off exponentially with full jitter, rate limits wait the server's
  Retry-After (an absurd one, above ``backoff.max_retry_after_s``, ends the call instead);
- fatal faults (auth, quota, other 4xx) are not retried;
- only good answers are put in the cache (and, with ``accept``, only the ones it accepts).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.backends.base import prompt_request
from chatbot_tester.common.calls.attempt import classify_failure, error_info, run_attempt
from chatbot_tester.common.calls.cost import count_message_tokens, ensure_usage, warm_tokenizer
from chatbot_tester.common.calls.policy import CallLimits, CallOutcome, CallPolicy
from chatbot_tester.common.calls.policy import backoff_delay as _backoff_delay
from chatbot_tester.common.events import CallFinished, EventBus, RetryScheduled
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, utcnow
from chatbot_tester.common.types import ErrorKind, RetryDecision

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.backends.base import ChatBackend

__all__ = ["BackendClient"]

_NO_LIMITS = CallLimits()


class BackendClient:
    """One backend with the policy, limits, cache and event bus its calls share.

    ``clock`` is the monotonic clock (seconds) behind latency and time to first token;
    tests inject a manual one to make timings exact. ``cache_salt`` keeps this client's
    cache entries apart from other clients' identical requests (the judge's verdicts).
    """

    def __init__(
        self,
        backend: ChatBackend,
        policy: CallPolicy | None = None,
        limits: CallLimits | None = None,
        cache: ResponseCache | None = None,
        bus: EventBus | None = None,
        stage: str = "run",
        *,
        clock: Callable[[], float] = time.perf_counter,
        cache_salt: Any = None,
    ) -> None:
        self.backend = backend
        self.policy = policy if policy is not None else CallPolicy()
        self.limits = limits if limits is not None else _NO_LIMITS
        self.cache = cache
        self.bus = bus
        self.stage = stage
        self.clock = clock
        self.cache_salt = cache_salt
        self._identity: dict[str, Any] | None = None
        self._warm = False
        self._warming: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._ready = False
        self._preparing: asyncio.Task[None] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """The backend's identity (cache keys, shared rate limits), computed once."""
        if self._identity is None:
            self._identity = self.backend.identity()
        return self._identity

    def cache_key(self, request: ChatRequest, salt: Any = None) -> str | None:
        """The cache key of ``request`` (``None`` without a cache)."""
        if self.cache is None:
            return None
        mine = self.cache_salt
        extra = salt if mine is None else (mine if salt is None else (mine, salt))
        return self.cache.key(self.identity, request, extra=extra)

    async def call(
        self,
        request: ChatRequest | str,
        item_id: str = "",
        *,
        salt: Any = None,
        policy: CallPolicy | None = None,
        accept: Callable[[ChatResponse], bool] | None = None,
    ) -> CallOutcome:
        """Make one logical call with retries; never raises for backend faults.

        ``item_id`` labels the ``RetryScheduled`` events; ``salt`` (e.g. a repeat index)
        keeps otherwise identical requests apart in the cache; ``policy`` overrides the
        client's for this call (a multi-turn sample's shrinking deadline); ``accept``
        decides which answers are cached and which cache hits count.
        """
        if isinstance(request, str):
            request = prompt_request(request)
        policy = self.policy if policy is None else policy
        cache = self.cache
        key: str | None = None
        if cache is not None:
            key = self.cache_key(request, salt)
            assert key is not None
            hit = cache.get(key)
            if hit is not None and (accept is None or accept(hit)):
                if not self._warm and _needs_count(hit):
                    await self._warm_up()
                return _success(request, hit, 0, None, True, utcnow())
        if self._starting is None or not self._starting.done():
            await self.start()
        clock = self.clock
        backend = self.backend
        concurrency = self.limits.concurrency
        rate = self.limits.rate
        deadline = None if policy.deadline_s is None else clock() + policy.deadline_s
        stream = policy.stream and backend.supports_streaming
        estimate = 0
        if rate is not None:
            if not self._warm:
                await self._warm_up()
            estimate = _estimate_tokens(request)
        if not self._ready:
            await self._prepare(request)
        bus = self.bus
        traced = bus is not None and bus.wants_call_events
        wall = 0
        max_attempts = policy.retries + 1
        attempts = 0
        started = None
        last: RetryDecision | None = None
        while True:
            if rate is not None:
                await rate.acquire(estimate)
            timeout = policy.timeout_s
            if deadline is not None:
                remaining = deadline - clock()
                if remaining <= 0:
                    return _deadline_outcome(policy, attempts, last, started)
                timeout = min(timeout, remaining)
            attempts += 1
            try:
                if concurrency is not None:
                    async with concurrency.slot():
                        if started is None:
                            started = utcnow()
                        if traced:
                            wall = time.time_ns()
                        response, start, first, end = await run_attempt(
                            backend, request, stream, timeout, clock, policy.max_response_bytes
                        )
                else:
                    if started is None:
                        started = utcnow()
                    if traced:
                        wall = time.time_ns()
                    response, start, first, end = await run_attempt(
                        backend, request, stream, timeout, clock, policy.max_response_bytes
                    )
            except Exception as exc:
                decision = classify_failure(backend, exc)
                if traced:
                    self._call_event(request, item_id, attempts, wall, None, decision.kind.value)
            else:
                if concurrency is not None:
                    concurrency.on_success()
                if not self._warm and _needs_count(response):
                    await self._warm_up()  # in a thread: other calls in flight keep running
                outcome = _success(request, response, attempts, (start, first, end), False, started)
                if traced:
                    self._call_event(request, item_id, attempts, wall, outcome, None)
                if rate is not None and outcome.usage is not None:
                    rate.record_usage(estimate, outcome.usage.total_tokens or estimate)
                if key is not None and cache is not None and (accept is None or accept(response)):
                    cache.put(key, response)
                return outcome
            last = decision
            if decision.decision == "fatal":
                return CallOutcome(
                    None, error_info(decision), attempts, fatal=True, started_at=started
                )
            if decision.decision == "rate_limited" and concurrency is not None:
                concurrency.on_rate_limited()
            if attempts >= max_attempts:
                note = _gave_up(attempts)
                return CallOutcome(None, error_info(decision, note), attempts, started_at=started)
            retry_after = decision.retry_after
            if retry_after is not None:
                limit = policy.backoff.max_retry_after_s
                if retry_after > limit:
                    note = (
                        f" (server asked to retry after {retry_after:.0f} s, above "
                        f"backoff.max_retry_after_s={limit:g}; not waiting)"
                    )
                    return CallOutcome(
                        None, error_info(decision, note), attempts, started_at=started
                    )
                delay = retry_after + random.uniform(0.0, min(1.0, 0.1 * retry_after))
            else:
                delay = _backoff_delay(policy.backoff, attempts)
            if deadline is not None and clock() + delay >= deadline:
                return _deadline_outcome(policy, attempts, decision, started)
            if bus is not None:
                bus.emit(RetryScheduled(self.stage, item_id, attempts, delay, decision.kind.value))
            await asyncio.sleep(delay)

    def _call_event(
        self,
        request: ChatRequest,
        item_id: str,
        attempt: int,
        start_ns: int,
        outcome: CallOutcome | None,
        error_kind: str | None,
    ) -> None:
        """Publish ``CallFinished`` for one attempt (only when a subscriber asked for it)."""
        assert self.bus is not None
        variables = request.variables
        turn = variables.get("turn")
        repeat = variables.get("repeat")
        usage = outcome.usage if outcome is not None else None
        response = outcome.response if outcome is not None else None
        self.bus.emit_call(
            CallFinished(
                self.stage,
                item_id,
                attempt,
                outcome is not None,
                start_ns,
                time.time_ns(),
                turn=turn if isinstance(turn, int) else None,
                repeat=repeat if isinstance(repeat, int) else None,
                error_kind=error_kind,
                backend=self.backend.name or type(self.backend).__name__,
                model=request.model,
                response_model=response.model if response is not None else None,
                input_tokens=usage.prompt_tokens if usage is not None else None,
                output_tokens=usage.completion_tokens if usage is not None else None,
            )
        )

    async def start(self) -> None:
        """Await ``backend.start()`` once (a model load), before any attempt is timed.

        Its errors (a model that cannot be loaded) propagate: they are the user's to fix,
        not a backend fault to record per sample.
        """
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.backend.start())
        await asyncio.shield(self._starting)

    async def _prepare(self, request: ChatRequest) -> None:
        """Run the backend's one-time ``prepare`` once (concurrent first calls share it)."""
        if self._preparing is None:
            self._preparing = asyncio.ensure_future(self.backend.prepare(request))
        try:
            await asyncio.shield(self._preparing)
        except asyncio.CancelledError:
            raise
        except Exception:
            pass  # the first attempt meets the same problem and records it
        self._ready = True

    async def _warm_up(self) -> None:
        """Load the local tokenizer in a worker thread, once, when a count first needs it.

        Loading it on the loop would stall every call in flight and inflate their latency.
        """
        if self._warming is None:
            self._warming = asyncio.ensure_future(warm_tokenizer())
        await asyncio.shield(self._warming)
        self._warm = True

    async def aclose(self) -> None:
        """Close the backend (the cache belongs to whoever opened it)."""
        await self.backend.aclose()


def _needs_count(response: ChatResponse) -> bool:
    """True when the API did not report the usage, so it is counted locally."""
    usage = response.usage
    return usage is None or usage.prompt_tokens is None or usage.completion_tokens is None


def _estimate_tokens(request: ChatRequest) -> int:
    tokens = count_message_tokens(request.messages, request.model)
    max_tokens = request.params.get("max_tokens") or request.params.get("max_completion_tokens")
    return int(tokens) + (max_tokens if isinstance(max_tokens, int) else 0)


def _success(
    request: ChatRequest,
    response: ChatResponse,
    attempts: int,
    timing: tuple[float, float | None, float] | None,
    cached: bool,
    started: Any,
) -> CallOutcome:
    usage = ensure_usage(request, response, request.model)
    latency = ttft = tps = None
    if timing is not None:
        start, first, end = timing
        latency = (end - start) * 1000.0
        if first is not None:
            ttft = (first - start) * 1000.0
            gen = end - first
            if usage.completion_tokens and gen > 0:
                tps = usage.completion_tokens / gen
    return CallOutcome(response, None, attempts, latency, ttft, tps, usage, cached, False, started)


def _gave_up(attempts: int) -> str:
    return f" (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"


def _deadline_outcome(
    policy: CallPolicy, attempts: int, last: RetryDecision | None, started: Any
) -> CallOutcome:
    note = f" (call deadline of {policy.deadline_s:g} s reached after {attempts} attempts)"
    if last is None:
        last = RetryDecision("retry", ErrorKind.TIMEOUT, "no answer")
    return CallOutcome(None, error_info(last, note), attempts, started_at=started)
