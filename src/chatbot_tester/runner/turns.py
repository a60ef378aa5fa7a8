"""Send one sample (one repeat) to the chatbot: a single message or a scripted conversation.

``SampleExecutor.run`` turns a ``TestSample`` into exactly one ``RunRecord``: the answer or
a recorded error, never an exception for backend faults. Multi-turn samples are sent turn
by turn with the growing history (system prompt, earlier user and assistant messages) and
the session id the endpoint returned, carried into the next turn.
"""

from __future__ import annotations

from dataclasses import replace
from time import perf_counter
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallLimits, CallOutcome, CallPolicy
from chatbot_tester.common.schemas import (
    ChatRequest,
    ChatResponse,
    ErrorInfo,
    Message,
    RunRecord,
    TestSample,
    TurnRecord,
    Usage,
    utcnow,
)
from chatbot_tester.common.types import ErrorKind

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from datetime import datetime

    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.backends.base import ChatBackend
    from chatbot_tester.common.calls.cost import PriceTable
    from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter
    from chatbot_tester.common.config import RunnerConfig
    from chatbot_tester.common.events import EventBus
    from chatbot_tester.runner.scenario import SimulatedUser

__all__ = ["SampleExecutor", "SampleResult"]


class SampleResult:
    """A finished record plus what the scheduler needs to know about it."""

    __slots__ = ("fail_fast", "record")

    def __init__(self, record: RunRecord, fail_fast: bool) -> None:
        self.record = record
        """The record to append."""
        self.fail_fast = fail_fast
        """True when the error would hit every request alike (bad key, quota, unknown model)."""


class SampleExecutor:
    """Everything needed to send samples, bound once per run (backend, limits, cache, prices)."""

    def __init__(
        self,
        backend: ChatBackend,
        config: RunnerConfig,
        *,
        prices: PriceTable,
        concurrency: ConcurrencyLimit | None,
        rate: RateLimiter | None,
        cache: ResponseCache | None,
        bus: EventBus | None,
        simulated_user: SimulatedUser | None = None,
    ) -> None:
        self.backend = backend
        self.simulated_user = simulated_user
        """Plays the user of ``scenario`` samples (``runner.simulated_user``)."""
        self.config = config
        self.policy = CallPolicy.from_runner(config)
        self.prices = prices
        self.concurrency = concurrency
        self.rate = rate
        self.cache = cache
        self.bus = bus
        self.client = BackendClient(
            backend, self.policy, CallLimits(concurrency, rate), cache, bus, "run"
        )
        self.backend_name = backend.name or type(backend).__name__
        self.local = type(backend).local
        self.model = config.model
        self.params = config.params
        prompt = config.system_prompt
        self.system: Message | None = Message(role="system", content=prompt) if prompt else None

    def _variables(self, sample: TestSample, repeat: int, turn: int) -> dict[str, Any]:
        return {
            "metadata": sample.metadata,
            "tags": sample.tags,
            "context": sample.context,
            "repeat": repeat,
            "turn": turn,
        }

    def _request(
        self,
        sample: TestSample,
        messages: list[Message],
        repeat: int,
        turn: int,
        session_id: str | None,
    ) -> ChatRequest:
        # Validating is cheaper than model_construct here (the messages are model instances);
        # the validator is called directly, as model_validate does, to skip __init__'s frame.
        fields: dict[str, Any] = {
            "messages": messages,
            "model": self.model,
            "params": self.params,
            "sample_id": sample.id,
            "variables": self._variables(sample, repeat, turn),
        }
        if session_id is not None:
            fields["session_id"] = session_id
        request: ChatRequest = ChatRequest.__pydantic_validator__.validate_python(fields)
        return request

    def _call(
        self, request: ChatRequest, item_id: str, repeat: int, policy: CallPolicy
    ) -> Coroutine[Any, Any, CallOutcome]:
        # A plain function returning the client's coroutine: no extra frame per await.
        return self.client.call(request, item_id, salt=repeat or None, policy=policy)

    def _cost(self, usage: Usage | None, response: ChatResponse) -> float | None:
        """Our price table's cost; the backend's own when the table does not price the model.

        A local model costs 0; otherwise ``runner.prices`` wins over the backend's figure.
        """
        model = self.model or response.model
        if self.local:
            return 0.0
        if response.cost_usd is not None and not self.prices.overrides_model(model):
            return response.cost_usd
        return self.prices.cost(model, usage)

    def internal_error(self, sample: TestSample, repeat: int, exc: Exception) -> RunRecord:
        """The record of a sample that failed inside chatbot-tester itself (a bug)."""
        from chatbot_tester.common.redact import redact

        message = redact(f"internal error: {type(exc).__name__}: {exc}")
        return RunRecord(
            sample_id=sample.id,
            repeat=repeat,
            error=ErrorInfo(kind=ErrorKind.INTERNAL, message=message[:500]),
            attempts=0,
            backend=self.backend_name,
            model=self.model,
        )

    async def run(self, sample: TestSample, repeat: int) -> SampleResult:
        """Send ``sample`` (repeat index ``repeat``) and build its one record."""
        if sample.turns is not None:
            return await self._run_turns(sample, repeat)
        if sample.scenario is not None:
            from chatbot_tester.runner.scenario import run_scenario

            return SampleResult(*await run_scenario(self, sample, repeat))
        messages = sample.input_messages()
        system = self.system
        if system is not None and messages[0].role != "system":
            messages.insert(0, system)
        request = self._request(sample, messages, repeat, 0, None)
        out = await self._call(request, sample.id, repeat, self.policy)
        response = out.response
        # Only fields that differ from their defaults; validated as RunRecord(**fields) would be.
        fields: dict[str, Any] = {
            "sample_id": sample.id,
            "repeat": repeat,
            "attempts": out.attempts,
            "backend": self.backend_name,
            "started_at": out.started_at or utcnow(),
        }
        if response is not None:
            fields["response"] = response
            fields["latency_ms"] = out.latency_ms
            fields["usage"] = out.usage
            cost = self._cost(out.usage, response)
            if cost is not None:
                fields["cost_usd"] = cost
            if out.ttft_ms is not None:
                fields["ttft_ms"] = out.ttft_ms
                fields["output_tokens_per_s"] = out.output_tokens_per_s
            if out.cached:
                fields["cached"] = True
            fields["model"] = self.model or response.model
        else:
            fields["error"] = out.error
            fields["model"] = self.model
        if self.local:
            fields["local"] = True
        fields["finished_at"] = utcnow()
        record: RunRecord = RunRecord.__pydantic_validator__.validate_python(fields)
        return SampleResult(record, out.fail_fast)

    async def _run_turns(self, sample: TestSample, repeat: int) -> SampleResult:
        assert sample.turns is not None
        started: datetime | None = None
        policy = self.policy
        deadline = None if policy.deadline_s is None else perf_counter() + policy.deadline_s
        history: list[Message] = [self.system] if self.system is not None else []
        turns: list[TurnRecord] = []
        session_id: str | None = None
        usage: Usage | None = None
        attempts = 0
        latency = 0.0
        ttft: float | None = None
        tps: float | None = None
        cost: float | None = 0.0
        cached = True
        error: ErrorInfo | None = None
        fail_fast = False
        out: CallOutcome | None = None
        for index, turn in enumerate(sample.turns):
            history.append(Message(role="user", content=turn.user))
            request = self._request(sample, list(history), repeat, index, session_id)
            if deadline is not None:
                left = deadline - perf_counter()
                if left <= 0:
                    error = ErrorInfo(
                        kind=ErrorKind.TIMEOUT,
                        message=f"turn {index + 1}: sample deadline of {policy.deadline_s:g} s "
                        "reached before this turn",
                    )
                    turns.append(TurnRecord(index=index, user=turn.user, error=error))
                    break
            turn_policy = policy if deadline is None else replace(policy, deadline_s=left)
            out = await self._call(request, sample.id, repeat, turn_policy)
            attempts += out.attempts
            if started is None:
                started = out.started_at
            cached = cached and out.cached
            response = out.response
            if response is None:
                assert out.error is not None
                error = out.error.model_copy(
                    update={"message": f"turn {index + 1}: {out.error.message}"}
                )
                fail_fast = out.fail_fast and index == 0
                turns.append(TurnRecord(index=index, user=turn.user, error=out.error))
                break
            turns.append(
                TurnRecord(
                    index=index,
                    user=turn.user,
                    response=response,
                    latency_ms=out.latency_ms,
                    ttft_ms=out.ttft_ms,
                )
            )
            latency += out.latency_ms or 0.0
            if ttft is None:
                ttft, tps = out.ttft_ms, out.output_tokens_per_s
            if out.usage is not None:
                usage = out.usage if usage is None else usage + out.usage
            turn_cost = self._cost(out.usage, response)
            cost = None if cost is None or turn_cost is None else cost + turn_cost
            history.append(
                Message(
                    role="assistant", content=response.text, tool_calls=response.tool_calls or None
                )
            )
            if response.session_id:
                session_id = response.session_id
        last = out.response if (error is None and out is not None) else None
        record = RunRecord(
            sample_id=sample.id,
            repeat=repeat,
            response=last,
            turns=turns,
            error=error,
            attempts=attempts,
            latency_ms=latency if error is None else None,
            ttft_ms=ttft,
            output_tokens_per_s=tps,
            usage=usage,
            cost_usd=cost if error is None else _partial_cost(cost, usage),
            cached=cached and error is None,
            local=self.local,
            backend=self.backend_name,
            model=self.model or (last.model if last is not None else None),
            started_at=started or utcnow(),
            finished_at=utcnow(),
        )
        return SampleResult(record, fail_fast)


def _partial_cost(cost: float | None, usage: Usage | None) -> float | None:
    """Cost of the turns that were answered before a failure (spent money is still spent)."""
    return cost if usage is not None else None
