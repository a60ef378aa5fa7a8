"""Test doubles for your own pipelines: a backend from a function, a manual clock, metric inputs.

``FunctionBackend(fn)`` answers with ``fn`` (sync or async, taking the ``ChatRequest`` or the
prompt text, returning a ``str`` or a ``ChatResponse``), so a test needs no server at all.
``ManualClock`` is a monotonic clock a test moves by hand; pass it as ``clock=`` to
``BackendClient`` for exact latencies. ``metric_input(...)`` builds what a metric scores.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.backends.base import BackendOptions, ChatBackend, as_response
from chatbot_tester.common.schemas import (
    ChatRequest,
    ChatResponse,
    Message,
    RunRecord,
    TestSample,
)

if TYPE_CHECKING:
    from chatbot_tester.evaluator.metrics.base import MetricInput

__all__ = ["FunctionBackend", "ManualClock", "metric_input"]


def _wants_request(fn: Callable[..., Any]) -> bool:
    """True when ``fn``'s first parameter is annotated as a ChatRequest (else: the prompt)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    ann = params[0].annotation
    name = ann if isinstance(ann, str) else getattr(ann, "__name__", "")
    return name == "ChatRequest" or params[0].name == "request"


def _prompt(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


class FunctionBackend(ChatBackend):
    """A backend answering with a Python callable; for tests and quick experiments.

    The callable gets the ``ChatRequest`` when its first parameter is named ``request`` or
    annotated ``ChatRequest``, else the last user message's text.
    """

    description = "answers with a Python callable (tests)"

    def __init__(self, fn: Callable[..., Any], *, name: str = "function") -> None:
        super().__init__(BackendOptions())
        self.fn = fn
        self.name = name
        self.calls: list[ChatRequest] = []
        """Every request sent, in order."""
        self._wants_request = _wants_request(fn)

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Call the function (awaiting it when it is async) and wrap its answer."""
        self.calls.append(request)
        result = self.fn(request if self._wants_request else _prompt(request))
        if inspect.isawaitable(result):
            result = await result
        return as_response(self, result)


class ManualClock:
    """A monotonic clock (seconds) that moves only when told: ``clock.advance(0.25)``."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current reading, in seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a monotonic clock never goes back")
        self.now += seconds


def metric_input(
    output: str | None = "",
    expected: str | list[str] | None = None,
    *,
    input: str = "question",
    sample_id: str = "s1",
    error: bool = False,
    **record_fields: Any,
) -> MetricInput:
    """A ``MetricInput`` for one single-turn answer; ``record_fields`` go to the ``RunRecord``.

    ``output=None`` (or ``error=True``) makes the record an error, as a failed call would.
    """
    from chatbot_tester.common.schemas import ErrorInfo
    from chatbot_tester.common.types import ErrorKind
    from chatbot_tester.evaluator.metrics.base import MetricInput

    sample = TestSample(id=sample_id, input=input, expected=expected)
    failed = error or output is None
    fields: dict[str, Any] = {"sample_id": sample_id, "backend": "test", **record_fields}
    if failed:
        fields["error"] = ErrorInfo(kind=ErrorKind.HTTP, message="failed")
    else:
        fields["response"] = ChatResponse(text=output or "")
    record = RunRecord(**fields)
    conversation = [Message(role="user", content=input)]
    if not failed:
        conversation.append(Message(role="assistant", content=output or ""))
    return MetricInput(
        sample=sample,
        record=record,
        output=None if failed else output,
        expected=sample.expected_list(),
        conversation=conversation,
    )
