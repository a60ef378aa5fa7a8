"""Test doubles for your own pipelines: a backend from a function, a manual clock, metric inputs.

``FunctionBackend(fn)`` answers with ``fn`` (sync or async, taking the ``ChatRequest`` or the
prompt text, returning a ``str`` or a ``ChatResponse``), so a test needs no server at all.
``ManualClock`` is a monotonic clock a test moves by hand; pass it as ``clock=`` to
``BackendClient`` for exact latencies. (``metric_input`` lives with the metrics, in
``evaluator.metrics.input_builder``, and is exported from ``chatbot_tester.testing`` too.)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from chatbot_tester.common.backends.base import BackendOptions, ChatBackend, as_response
from chatbot_tester.common.schemas import ChatRequest, ChatResponse

__all__ = ["FunctionBackend", "ManualClock"]


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
