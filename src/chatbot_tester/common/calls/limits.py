"""Throughput control shared by the runner and the judge: concurrency slots and rate limits.

``ConcurrencyLimit`` bounds the attempts in flight (optionally adapting to 429s with AIMD);
``RateLimiter`` spaces requests and tokens per minute with a virtual-time token bucket
(GCRA), so waiting is FIFO by construction and costs no task or lock per request.
``shared_rate_limiter`` hands every stage that talks to the same account the same limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from types import TracebackType
from typing import Any

from chatbot_tester.common.config import RateLimitConfig
from chatbot_tester.common.hashing import stable_hash

__all__ = ["ConcurrencyLimit", "RateLimiter", "rate_limit_identity", "shared_rate_limiter"]


class ConcurrencyLimit:
    """At most ``current`` holders of a slot at once; FIFO for those who wait.

    The fast path (a free slot, nobody waiting) is a counter increment with no await. With
    ``adaptive=True`` the limit halves on a rate-limit signal (at most once per
    ``cooldown_s``, so a burst of 429s from one wave of requests counts once) and grows back
    by one slot per ``current`` successes, up to the configured ``limit``.
    """

    def __init__(
        self, limit: int, *, adaptive: bool = False, min_limit: int = 1, cooldown_s: float = 1.0
    ) -> None:
        if limit < 1:
            raise ValueError("concurrency limit must be >= 1")
        self.limit = limit
        """The configured (largest) limit."""
        self.current = limit
        """The limit in force now (below ``limit`` after adaptive decreases)."""
        self.adaptive = adaptive
        self.min_limit = max(1, min(min_limit, limit))
        self.cooldown_s = cooldown_s
        self.in_flight = 0
        """Slots held right now."""
        self.max_in_flight = 0
        """Largest number of slots held at once so far."""
        self.decreases = 0
        """How many times the adaptive limit was halved."""
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._successes = 0
        self._last_decrease = -float("inf")

    def slot(self) -> ConcurrencyLimit:
        """Async context manager holding one slot (``async with limit.slot(): ...``)."""
        return self

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits; never waits."""
        if self.in_flight < self.current and not self._waiters:
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting in FIFO order when none is free."""
        if self.in_flight < self.current and not self._waiters:
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed to us as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    def release(self) -> None:
        """Give a slot back and hand free slots to waiters."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self.in_flight < self.current:
            fut = waiters.popleft()
            if fut.done():
                continue
            self.in_flight += 1  # the slot is transferred to the waiter
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            fut.set_result(None)

    def on_rate_limited(self) -> None:
        """Multiplicative decrease: halve ``current`` (adaptive only, once per cool-down)."""
        if not self.adaptive:
            return
        now = time.monotonic()
        if now - self._last_decrease < self.cooldown_s:
            return
        self._last_decrease = now
        self._successes = 0
        new = max(self.min_limit, self.current // 2)
        if new < self.current:
            self.current = new
            self.decreases += 1

    def on_success(self) -> None:
        """Additive increase: one more slot per ``current`` successes, up to ``limit``."""
        if self.current >= self.limit:
            return
        self._successes += 1
        if self._successes >= self.current:
            self._successes = 0
            self.current += 1
            self._wake()


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits as virtual-time token buckets.

    Each ``acquire`` reserves its start time synchronously (so callers are served in call
    order) and sleeps until then. Each bucket allows a burst of ``burst_s`` seconds' worth
    (at least one request); a request larger than the token burst is let through when the
    bucket is full and then paid back by later requests. ``record_usage`` corrects the token
    bucket once the real usage is known.
    """

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        *,
        burst_s: float = 1.0,
    ) -> None:
        self.burst_s = burst_s
        self.requests_per_minute: float | None = None
        self.tokens_per_minute: float | None = None
        self._req_interval = 0.0
        self._req_tolerance = 0.0
        self._tok_interval = 0.0
        self._tok_tolerance = 0.0
        now = time.monotonic()
        self._req_tat = now  # theoretical arrival time of the next request
        self._tok_tat = now
        self._configure(requests_per_minute, tokens_per_minute)

    def _configure(self, rpm: float | None, tpm: float | None) -> None:
        self.requests_per_minute = rpm
        self.tokens_per_minute = tpm
        if rpm:
            self._req_interval = 60.0 / rpm
            capacity = max(1.0, rpm / 60.0 * self.burst_s)
            self._req_tolerance = (capacity - 1.0) * self._req_interval
        else:
            self._req_interval = self._req_tolerance = 0.0
        if tpm:
            self._tok_interval = 60.0 / tpm
            capacity = max(1.0, tpm / 60.0 * self.burst_s)
            self._tok_tolerance = capacity * self._tok_interval  # bucket size in seconds
        else:
            self._tok_interval = self._tok_tolerance = 0.0

    def tighten(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        """Lower the limits to the stricter of the current and the given ones."""

        def stricter(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        self._configure(
            stricter(self.requests_per_minute, requests_per_minute),
            stricter(self.tokens_per_minute, tokens_per_minute),
        )

    def reserve(self, tokens: int = 0) -> float:
        """Book the next start time for a request of ``tokens``; seconds to wait until then."""
        now = time.monotonic()
        start = now
        if self._req_interval:
            start = max(start, self._req_tat - self._req_tolerance)
        if self._tok_interval and tokens > 0:
            cost = tokens * self._tok_interval
            start = max(start, self._tok_tat - max(0.0, self._tok_tolerance - cost))
        if self._req_interval:
            self._req_tat = max(self._req_tat, start) + self._req_interval
        if self._tok_interval and tokens > 0:
            self._tok_tat = max(self._tok_tat, start) + tokens * self._tok_interval
        return start - now

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request of ``tokens`` (estimated) tokens may start."""
        delay = self.reserve(tokens)
        if delay > 0:
            await asyncio.sleep(delay)

    def record_usage(self, estimated: int, actual: int) -> None:
        """Correct the token bucket by the difference between the estimate and the real usage."""
        if self._tok_interval and actual != estimated:
            self._tok_tat += (actual - estimated) * self._tok_interval


_ACCOUNT_OPTION_KEYS = ("base_url", "url", "endpoint", "api_base", "host", "region")
_SECRET_MARKERS = ("key", "token", "secret", "organization", "project", "account")

_shared: dict[str, RateLimiter] = {}


def rate_limit_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """The part of a ``ChatBackend.identity()`` that names an account: backend, URL, key hash.

    The model and sampling options are left out, so the runner and the judge calling the
    same account with different models share one limit.
    """
    options = identity.get("options")
    if not isinstance(options, dict):
        return identity
    account = {
        k: v
        for k, v in options.items()
        if k in _ACCOUNT_OPTION_KEYS or any(m in k.lower() for m in _SECRET_MARKERS)
    }
    return {"backend": identity.get("backend"), "account": account}


def shared_rate_limiter(identity: dict[str, Any], config: RateLimitConfig) -> RateLimiter | None:
    """The process-wide limiter for this account, or ``None`` when no limit is configured.

    ``identity`` is a ``ChatBackend.identity()`` (secrets already hashed). Two stages
    configuring different limits for one account share the stricter of each.
    """
    rpm, tpm = config.requests_per_minute, config.tokens_per_minute
    if rpm is None and tpm is None:
        return None
    key = stable_hash(rate_limit_identity(identity))
    limiter = _shared.get(key)
    if limiter is None:
        limiter = _shared[key] = RateLimiter(rpm, tpm)
    elif (rpm, tpm) != (limiter.requests_per_minute, limiter.tokens_per_minute):
        limiter.tighten(rpm, tpm)
    return limiter
