"""Concurrency and rate limits held by a Ray actor and shared by every worker process.

A distributed run (``runner.executor: ray``) or evaluation (``evaluator.executor: ray``)
keeps one limit for all of its workers in a coordinator actor. These proxies keep the local
classes' interfaces (``ConcurrencyLimit``, ``RateLimiter``), so ``BackendClient`` cannot
tell. ``handle`` is anything whose methods have a ``.remote(...)`` returning an awaitable:
the actor handle itself, or an adapter that adds a key (one limit per judge).

``handle`` must offer ``lease(token, want) -> int``, ``release(token, count)``,
``on_rate_limited()``, ``on_success()``, ``reserve(tokens) -> float`` and
``record_usage(estimated, actual)``. Nothing here imports Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter

__all__ = ["LeasedConcurrency", "RemoteRate"]

_RETURN_S = 0.05
"""How often a worker hands its idle concurrency slots back to the coordinator."""


class LeasedConcurrency(ConcurrencyLimit):
    """A ``ConcurrencyLimit`` whose slots are leased from the coordinator (shared by all workers).

    ``current`` is the number of slots this worker holds. A caller finding none free queues
    here (FIFO, as locally) while one lease call asks the coordinator for as many slots as
    there are callers waiting; slots left idle are handed back every ``_RETURN_S``. So the
    run's total never exceeds the configured limit, and a busy worker reuses its slots
    without a call to the coordinator per request.
    """

    def __init__(self, coordinator: Any, token: str, limit: int, *, adaptive: bool) -> None:
        super().__init__(limit, adaptive=adaptive)
        self.current = 0
        self._coordinator = coordinator
        self._token = token
        self._leasing: asyncio.Task[None] | None = None
        self._returning: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Take a slot, leasing more from the coordinator when none is free here."""
        if self.in_flight >= self.current or self._waiters:
            if self._leasing is None:
                self._leasing = asyncio.get_running_loop().create_task(self._lease())
            if self._returning is None:
                self._returning = asyncio.get_running_loop().create_task(self._give_back())
        await super().acquire()

    async def _lease(self) -> None:
        try:
            while self._waiters and self.in_flight + len(self._waiters) > self.current:
                want = self.in_flight + len(self._waiters) + 1 - self.current
                got: int = await self._coordinator.lease.remote(self._token, want)
                if not got:
                    raise RuntimeError("this shard attempt was given up by the driver")
                self.current += got
                self._wake()
        finally:
            self._leasing = None

    async def _give_back(self) -> None:
        while True:
            await asyncio.sleep(_RETURN_S)
            idle = self.current - self.in_flight - len(self._waiters)
            if idle > 0:
                self.current -= idle
                self._coordinator.release.remote(self._token, idle)

    async def aclose(self) -> None:
        """Stop leasing and hand every slot back (the attempt is over)."""
        for task in (self._leasing, self._returning):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                    await task
        if self.current:
            self._coordinator.release.remote(self._token, self.current)
            self.current = 0

    def on_rate_limited(self) -> None:
        """Tell the shared (adaptive) limit about a 429."""
        if self.adaptive:
            self._coordinator.on_rate_limited.remote()

    def on_success(self) -> None:
        """Tell the shared (adaptive) limit about a success."""
        if self.adaptive:
            self._coordinator.on_success.remote()


class RemoteRate(RateLimiter):
    """A ``RateLimiter`` whose buckets are the coordinator's."""

    def __init__(self, coordinator: Any) -> None:
        super().__init__(None, None)
        self._coordinator = coordinator

    async def acquire(self, tokens: int = 0) -> None:
        """Book a start time with the coordinator and wait for it."""
        delay: float = await self._coordinator.reserve.remote(tokens)
        if delay > 0:
            await asyncio.sleep(delay)

    def record_usage(self, estimated: int, actual: int) -> None:
        """Correct the shared token bucket once the real usage is known."""
        if actual != estimated:
            self._coordinator.record_usage.remote(estimated, actual)
