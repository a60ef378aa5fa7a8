"""Drive a ``scenario`` sample: a simulated user (any backend) talks with the bot under test.

Turn by turn: the simulated user writes a message (or the scenario's ``opening``), the bot
answers with the whole history, and the transcript is recorded as ``TurnRecord``s, exactly
like a scripted conversation. The conversation ends when the simulated user says its goal
token (``goal``) or its give-up token (``gave_up``), when the bot says one of the scenario's
``stop_phrases`` (``stop_phrase``), after ``max_turns`` bot replies (``max_turns``), or on a
failed call (``error``); ``RunRecord.conversation`` says which. Both sides go through a
``BackendClient`` with the response cache, so a conversation cut by a crash is replayed from
the cache on resume and, like every sample, recorded once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.schemas import (
    ChatRequest,
    ChatResponse,
    ConversationOutcome,
    ErrorInfo,
    Message,
    RunRecord,
    Scenario,
    TestSample,
    TurnRecord,
    Usage,
    utcnow,
)
from chatbot_tester.common.types import ErrorKind

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from chatbot_tester.common.calls.policy import CallOutcome, CallPolicy
    from chatbot_tester.common.config_simulation import SimulatedUserConfig

__all__ = ["Bot", "SimulatedUser", "run_scenario"]

_START = "(The conversation starts: write your first message.)"


class Bot(Protocol):
    """What a scenario needs of the runner's ``SampleExecutor``: how it calls the bot."""

    simulated_user: SimulatedUser | None
    system: Message | None
    backend_name: str
    model: str | None
    policy: CallPolicy

    def _request(
        self,
        sample: TestSample,
        messages: list[Message],
        repeat: int,
        turn: int,
        session_id: str | None,
    ) -> ChatRequest: ...

    def _call(
        self, request: ChatRequest, item_id: str, repeat: int, policy: CallPolicy
    ) -> Coroutine[Any, Any, CallOutcome]: ...

    def _cost(self, usage: Usage | None, response: ChatResponse) -> float | None: ...


class SimulatedUser:
    """The simulated user's backend client and settings, shared by every scenario of a run."""

    def __init__(self, client: BackendClient, config: SimulatedUserConfig) -> None:
        self.client = client
        self.config = config

    def _system(self, scenario: Scenario) -> str:
        facts = "\n".join(f"- {f}" for f in scenario.facts) or "- nothing in particular"
        return self.config.system_prompt.format(
            persona=scenario.persona or "an ordinary customer",
            goal=scenario.goal,
            facts=facts,
            goal_token=self.config.goal_token,
            give_up_token=self.config.give_up_token,
        )

    def request(self, sample: TestSample, transcript: list[tuple[str, str]]) -> ChatRequest:
        """The next-message request: the bot's replies are the user's input, and vice versa."""
        assert sample.scenario is not None
        messages = [Message(role="system", content=self._system(sample.scenario))]
        messages.append(Message(role="user", content=_START))
        for user, bot in transcript:
            messages.append(Message(role="assistant", content=user))
            messages.append(Message(role="user", content=bot))
        return ChatRequest(
            messages=messages,
            model=self.config.model,
            params=self.config.params,
            sample_id=f"{sample.id}:simulated-user",
        )

    def verdict(self, text: str) -> ConversationOutcome | None:
        """``goal`` or ``gave_up`` when the message carries a token, else ``None``."""
        if self.config.goal_token.lower() in text.lower():
            return ConversationOutcome(stop_reason="goal", turns=0)
        if self.config.give_up_token.lower() in text.lower():
            return ConversationOutcome(stop_reason="gave_up", turns=0)
        return None


async def run_scenario(executor: Bot, sample: TestSample, repeat: int) -> tuple[RunRecord, bool]:
    """Play ``sample.scenario`` to its end: its one record, and whether to fail fast."""
    scenario = sample.scenario
    assert scenario is not None
    simulated = executor.simulated_user
    if simulated is None:
        missing = ErrorInfo(
            kind=ErrorKind.CONFIG,
            message=f"sample '{sample.id}' has a scenario: set runner.simulated_user (a backend)",
        )
        record = RunRecord(
            sample_id=sample.id,
            repeat=repeat,
            error=missing,
            attempts=0,
            backend=executor.backend_name,
        )
        return record, False
    history: list[Message] = [executor.system] if executor.system is not None else []
    transcript: list[tuple[str, str]] = []
    turns: list[TurnRecord] = []
    usage: Usage | None = None
    attempts, latency, cached = 0, 0.0, True
    cost: float | None = 0.0
    error: ErrorInfo | None = None
    outcome: ConversationOutcome | None = None
    fail_fast = False
    started = utcnow()
    user_text = scenario.opening
    last = None
    for index in range(scenario.max_turns):
        if user_text is None:
            said = await simulated.client.call(
                simulated.request(sample, transcript), sample.id, salt=repeat or None
            )
            attempts += said.attempts
            if said.response is None:
                assert said.error is not None
                error = said.error.model_copy(
                    update={"message": f"turn {index + 1}: simulated user: {said.error.message}"}
                )
                fail_fast = said.fail_fast and index == 0
                break
            user_text = said.response.text.strip()
            outcome = simulated.verdict(user_text)
            if outcome is not None:
                break
        history.append(Message(role="user", content=user_text))
        request = executor._request(sample, list(history), repeat, index, None)
        out = await executor._call(request, sample.id, repeat, executor.policy)
        attempts += out.attempts
        cached = cached and out.cached
        if out.response is None:
            assert out.error is not None
            error = out.error.model_copy(
                update={"message": f"turn {index + 1}: {out.error.message}"}
            )
            fail_fast = out.fail_fast and index == 0
            turns.append(TurnRecord(index=index, user=user_text, error=out.error))
            break
        last = out.response
        turns.append(
            TurnRecord(
                index=index,
                user=user_text,
                response=last,
                latency_ms=out.latency_ms,
                ttft_ms=out.ttft_ms,
            )
        )
        latency += out.latency_ms or 0.0
        if out.usage is not None:
            usage = out.usage if usage is None else usage + out.usage
        turn_cost = executor._cost(out.usage, last)
        cost = None if cost is None or turn_cost is None else cost + turn_cost
        history.append(
            Message(role="assistant", content=last.text, tool_calls=last.tool_calls or None)
        )
        transcript.append((user_text, last.text))
        user_text = None
        if any(p.lower() in last.text.lower() for p in scenario.stop_phrases):
            outcome = ConversationOutcome(stop_reason="stop_phrase", turns=0)
            break
    n = len([t for t in turns if t.response is not None])
    if error is not None:
        outcome = ConversationOutcome(stop_reason="error", turns=n)
    elif outcome is None:
        outcome = ConversationOutcome(stop_reason="max_turns", turns=n)
    else:
        outcome = outcome.model_copy(
            update={"turns": n, "turns_to_goal": n if outcome.stop_reason == "goal" else None}
        )
    record = RunRecord(
        sample_id=sample.id,
        repeat=repeat,
        response=last if error is None else None,
        turns=turns,
        conversation=outcome,
        error=error,
        attempts=attempts,
        latency_ms=latency if error is None else None,
        usage=usage,
        cost_usd=cost if error is None else None,
        cached=cached and error is None,
        backend=executor.backend_name,
        model=executor.model or (last.model if last is not None else None),
        started_at=started,
        finished_at=utcnow(),
    )
    return record, fail_fast
