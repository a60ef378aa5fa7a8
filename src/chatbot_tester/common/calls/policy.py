"""What one logical call may do and what it produced: ``CallPolicy``, ``CallLimits``, ``CallOutcome``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from chatbot_tester.common.backends.body_limit import DEFAULT_MAX_RESPONSE_BYTES
from chatbot_tester.common.config import BackoffConfig
from chatbot_tester.common.schemas import ChatResponse, ErrorInfo, Usage
from chatbot_tester.common.types import ErrorKind

if TYPE_CHECKING:
    from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter
    from chatbot_tester.common.config import RunnerConfig

__all__ = ["FAIL_FAST_KINDS", "CallLimits", "CallOutcome", "CallPolicy", "backoff_delay"]

FAIL_FAST_KINDS = frozenset({ErrorKind.AUTH, ErrorKind.QUOTA_EXHAUSTED, ErrorKind.CONFIG})
"""Error kinds that no retry or later sample can fix (with HTTP 404, e.g. an unknown model)."""


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
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """Largest response body one attempt may read (``ResponseTooLarge`` beyond)."""

    @classmethod
    def from_runner(cls, config: RunnerConfig) -> CallPolicy:
        """The policy described by a runner config (``sample_timeout_s`` -> ``deadline_s``)."""
        return cls(
            timeout_s=config.timeout_s,
            retries=config.retries,
            backoff=config.backoff,
            deadline_s=config.sample_timeout_s,
            stream=config.stream,
            max_response_bytes=config.max_response_bytes,
        )


@dataclass(frozen=True)
class CallLimits:
    """The limits a client's calls share: in-flight attempts and the account's rate limit."""

    concurrency: ConcurrencyLimit | None = None
    """Held only while an attempt is in flight, never during a backoff sleep."""
    rate: RateLimiter | None = None
    """Acquired (estimated tokens) before every attempt."""


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
    started_at: datetime | None = None
    """Wall clock when the first attempt started (after its concurrency slot), or the lookup."""

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
