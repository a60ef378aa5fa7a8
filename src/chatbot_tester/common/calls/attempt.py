"""One attempt at a backend under the hard wall-clock limit, and how its failure is classified."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from chatbot_tester.common.backends.base import default_classify
from chatbot_tester.common.backends.body_limit import DEFAULT_MAX_RESPONSE_BYTES, response_limit
from chatbot_tester.common.calls.timeout import AttemptTimeout, attempt_limit
from chatbot_tester.common.redact import redact
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, ErrorInfo, TextDelta
from chatbot_tester.common.types import ErrorKind, RetryDecision
from chatbot_tester.errors import BackendTimeout, BadResponse

if TYPE_CHECKING:
    from chatbot_tester.common.backends.base import ChatBackend

__all__ = ["AttemptTimedOut", "classify_failure", "error_info", "run_attempt"]

Clock = Callable[[], float]


class AttemptTimedOut(BackendTimeout):
    """Our own per-attempt limit fired (classified here, not by the backend's hook)."""


async def _consume_stream(
    backend: ChatBackend, request: ChatRequest, clock: Clock
) -> tuple[ChatResponse, float | None]:
    """Drain ``backend.stream``; the final ChatResponse and when the first text arrived."""
    first: float | None = None
    final: ChatResponse | None = None
    agen: AsyncIterator[TextDelta | ChatResponse] = backend.stream(request)
    try:
        async for item in agen:
            if isinstance(item, ChatResponse):
                final = item
            elif first is None and item.text:
                first = clock()
    finally:
        aclose: Callable[[], Awaitable[None]] | None = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()
    if final is None:
        raise BadResponse("the stream ended without a final response")
    return final, first


async def run_attempt(
    backend: ChatBackend,
    request: ChatRequest,
    stream: bool,
    timeout: float,
    clock: Clock,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> tuple[ChatResponse, float, float | None, float]:
    """One attempt under the hard wall-clock and size limits: (response, start, first, end)."""
    start = clock()
    first: float | None = None
    try:
        with attempt_limit(timeout), response_limit(max_bytes):
            if stream:
                response, first = await _consume_stream(backend, request, clock)
            else:
                response = await backend.send(request)
    except AttemptTimeout:
        raise AttemptTimedOut(f"no complete answer within {timeout:.3g} s") from None
    return response, start, first, clock()


def classify_failure(backend: ChatBackend, exc: Exception) -> RetryDecision:
    """The backend's verdict on ``exc``; a buggy ``classify`` hook never crashes the run."""
    if isinstance(exc, AttemptTimedOut):
        return RetryDecision("retry", ErrorKind.TIMEOUT, exc.message)
    try:
        return backend.classify(exc)
    except Exception:
        return default_classify(exc)


def error_info(decision: RetryDecision, suffix: str = "") -> ErrorInfo:
    """The recorded error for a failed call (message redacted)."""
    return ErrorInfo(
        kind=decision.kind,
        message=redact(decision.message + suffix),
        status_code=decision.status_code,
    )
