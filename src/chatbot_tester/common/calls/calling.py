"""One logical call to a chat backend: timeout, retries, backoff, Retry-After, deadline.

The runner, the judge and the synthetic generator all call backends through
``call_backend``; it never raises for a backend fault (the outcome carries an ``ErrorInfo``),
so a failing call becomes a recorded error and never a crash. Cancellation (Ctrl-C) is
not a backend fault and propagates.

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
- only good answers are put in the cache.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.backends.base import ChatBackend, ErrorClass, default_classify
from chatbot_tester.common.calls.cost import count_message_tokens, ensure_usage
from chatbot_tester.common.calls.timeout import AttemptTimeout, attempt_limit
from chatbot_tester.common.config import BackoffConfig
from chatbot_tester.common.events import EventBus, RetryScheduled
from chatbot_tester.common.redact import redact
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, ErrorInfo, TextDelta, Usage
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendTimeout, BadResponse

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter
    from chatbot_tester.common.config import RunnerConfig

__all__ = ["FAIL_FAST_KINDS", "CallOutcome", "CallPolicy", "backoff_delay", "call_backend"]

FAIL_FAST_KINDS = frozenset({ErrorKind.AUTH, ErrorKind.QUOTA_EXHAUSTED, ErrorKind.CONFIG})
"""Error kinds that no retry or later sample can fix (with HTTP 404, e.g. an unknown model)."""

_perf = time.perf_counter


@dataclass(frozen=True)
class CallPolicy:
    """How patient one logical call is: per-attempt timeout, retries, backoff, total deadline."""

    timeout_s: float = 60.0
    """Hard wall-clock limit of one attempt."""
    retries: int = 3
    """Retries after the first attempt, for retryable faults only."""
    backoff: BackoffConfig = field(default_factory=BackoffConfig)
    """Exponential backoff with full jitter, and the largest Retry-After worth waiting for."""
    deadline_s: float | None = None
    """Total time for the call, attempts and waits included (``None``: no limit)."""
    stream: bool = False
    """Stream the answer (when the backend can) to measure time to first token."""

    @classmethod
    def from_runner(cls, config: RunnerConfig) -> CallPolicy:
        """The policy described by a runner config (``sample_timeout_s`` -> ``deadline_s``)."""
        return cls(
            timeout_s=config.timeout_s,
            retries=config.retries,
            backoff=config.backoff,
            deadline_s=config.sample_timeout_s,
            stream=config.stream,
        )


@dataclass
class CallOutcome:
    """What one logical call produced: an answer or an error, plus timings and usage."""

    response: ChatResponse | None
    """The answer (``None`` when the call failed)."""
    error: ErrorInfo | None
    """Why the call failed (message redacted); ``None`` on success."""
    attempts: int
    """Backend calls made, retries included (0 for a cache hit)."""
    latency_ms: float | None = None
    """Wall time of the successful attempt."""
    ttft_ms: float | None = None
    """Time to the first streamed text, when streamed."""
    output_tokens_per_s: float | None = None
    """Completion tokens per second after the first token, when streamed."""
    usage: Usage | None = None
    """Token usage from the API, else estimated locally (``estimated=True``)."""
    cached: bool = False
    """True when the answer came from the response cache."""
    fatal: bool = False
    """True when the error cannot be fixed by retrying (auth, quota, bad request, ...)."""

    @property
    def ok(self) -> bool:
        """True when the call produced an answer."""
        return self.response is not None

    @property
    def fail_fast(self) -> bool:
        """True when the error would hit every request alike (bad key, quota, unknown model)."""
        err = self.error
        if err is None or not self.fatal:
            return False
        return err.kind in FAIL_FAST_KINDS or err.status_code == 404


def backoff_delay(backoff: BackoffConfig, retry: int) -> float:
    """Full-jitter delay before retry number ``retry`` (1-based): uniform in [0, cap]."""
    cap = min(backoff.max_s, backoff.initial_s * backoff.multiplier ** (retry - 1))
    return random.uniform(0.0, cap)


_IDENTITIES: weakref.WeakKeyDictionary[ChatBackend, dict[str, Any]] = weakref.WeakKeyDictionary()


def _identity(backend: ChatBackend) -> dict[str, Any]:
    ident = _IDENTITIES.get(backend)
    if ident is None:
        ident = _IDENTITIES[backend] = backend.identity()
    return ident


async def _consume_stream(
    backend: ChatBackend, request: ChatRequest
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
                first = _perf()
    finally:
        aclose: Callable[[], Awaitable[None]] | None = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()
    if final is None:
        raise BadResponse("the stream ended without a final response")
    return final, first


async def _attempt(
    backend: ChatBackend, request: ChatRequest, stream: bool, timeout: float
) -> tuple[ChatResponse, float, float | None, float]:
    """One attempt under the hard wall-clock limit: (response, start, first token, end)."""
    start = _perf()
    first: float | None = None
    try:
        with attempt_limit(timeout):
            if stream:
                response, first = await _consume_stream(backend, request)
            else:
                response = await backend.send(request)
    except AttemptTimeout:
        raise _AttemptTimeout(f"no complete answer within {timeout:.3g} s") from None
    return response, start, first, _perf()


class _AttemptTimeout(BackendTimeout):
    """Our own per-attempt limit fired (classified here, not by the backend's hook)."""


def _classify(backend: ChatBackend, exc: Exception) -> ErrorClass:
    if isinstance(exc, _AttemptTimeout):
        return ErrorClass("retry", ErrorKind.TIMEOUT, exc.message)
    try:
        return backend.classify(exc)
    except Exception:  # a buggy classify hook must not crash the run
        return default_classify(exc)


def _error(cls: ErrorClass, suffix: str = "") -> ErrorInfo:
    return ErrorInfo(
        kind=cls.kind, message=redact(cls.message + suffix), status_code=cls.status_code
    )


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
    return CallOutcome(response, None, attempts, latency, ttft, tps, usage, cached, False)


async def call_backend(
    backend: ChatBackend,
    request: ChatRequest,
    policy: CallPolicy,
    *,
    concurrency: ConcurrencyLimit | None = None,
    rate: RateLimiter | None = None,
    cache: ResponseCache | None = None,
    bus: EventBus | None = None,
    stage: str = "run",
    item_id: str = "",
    cache_salt: Any = None,
) -> CallOutcome:
    """Make one logical call with retries; never raises for backend faults.

    ``item_id`` and ``stage`` label the ``RetryScheduled`` events emitted on ``bus``;
    ``cache_salt`` (e.g. a repeat index) keeps otherwise identical requests apart in the cache.
    """
    cache_key: str | None = None
    if cache is not None:
        cache_key = cache.key(_identity(backend), request, extra=cache_salt)
        hit = cache.get(cache_key)
        if hit is not None:
            return _success(request, hit, 0, None, True)
    deadline = None if policy.deadline_s is None else _perf() + policy.deadline_s
    stream = policy.stream and backend.supports_streaming
    estimate = _estimate_tokens(request) if rate is not None else 0
    max_attempts = policy.retries + 1
    attempts = 0
    last: ErrorClass | None = None
    while True:
        if rate is not None:
            await rate.acquire(estimate)
        timeout = policy.timeout_s
        if deadline is not None:
            remaining = deadline - _perf()
            if remaining <= 0:
                return _deadline_outcome(policy, attempts, last)
            timeout = min(timeout, remaining)
        attempts += 1
        try:
            if concurrency is not None:
                async with concurrency.slot():
                    response, start, first, end = await _attempt(backend, request, stream, timeout)
            else:
                response, start, first, end = await _attempt(backend, request, stream, timeout)
        except Exception as exc:
            cls = _classify(backend, exc)
        else:
            if concurrency is not None:
                concurrency.on_success()
            outcome = _success(request, response, attempts, (start, first, end), False)
            if rate is not None and outcome.usage is not None:
                rate.record_usage(estimate, outcome.usage.total_tokens or estimate)
            if cache is not None and cache_key is not None:
                cache.put(cache_key, response)
            return outcome
        last = cls
        if cls.decision == "fatal":
            return CallOutcome(None, _error(cls), attempts, fatal=True)
        if cls.decision == "rate_limited" and concurrency is not None:
            concurrency.on_rate_limited()
        if attempts >= max_attempts:
            return CallOutcome(None, _error(cls, _gave_up(attempts)), attempts)
        retry_after = cls.retry_after
        if retry_after is not None:
            limit = policy.backoff.max_retry_after_s
            if retry_after > limit:
                note = (
                    f" (server asked to retry after {retry_after:.0f} s, above "
                    f"backoff.max_retry_after_s={limit:g}; not waiting)"
                )
                return CallOutcome(None, _error(cls, note), attempts)
            delay = retry_after + random.uniform(0.0, min(1.0, 0.1 * retry_after))
        else:
            delay = backoff_delay(policy.backoff, attempts)
        if deadline is not None and _perf() + delay >= deadline:
            return _deadline_outcome(policy, attempts, cls)
        if bus is not None:
            bus.emit(RetryScheduled(stage, item_id, attempts, delay, cls.kind.value))
        await asyncio.sleep(delay)


def _gave_up(attempts: int) -> str:
    return f" (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"


def _deadline_outcome(policy: CallPolicy, attempts: int, last: ErrorClass | None) -> CallOutcome:
    note = f" (call deadline of {policy.deadline_s:g} s reached after {attempts} attempts)"
    if last is None:
        last = ErrorClass("retry", ErrorKind.TIMEOUT, "no answer")
    return CallOutcome(None, _error(last, note), attempts)
