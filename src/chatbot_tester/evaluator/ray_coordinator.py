"""The judge limits every scoring shard shares, held in one place (a Ray actor's body).

With ``evaluator.executor: ray`` each judge client (one per judge spec, as locally) draws its
concurrency slots from one ``ConcurrencyLimit`` here, and each judge account its start times
from one ``RateLimiter``, so ``evaluator.judge.concurrency: 8`` means 8 calls in flight over
all workers, as on one machine. Slots are booked against the shard attempt (``token``) that
leased them; when a worker dies the driver calls ``reclaim(token)`` and they come back. It
also knows the pid of each running attempt (tests kill workers by it).

This module imports no Ray: ``evaluator.ray_scoring`` wraps the class with ``ray.remote``.
"""

from __future__ import annotations

from collections import defaultdict

from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter

__all__ = ["JudgeCoordinator"]


class JudgeCoordinator:
    """Shared judge concurrency and rate limits for the shard attempts of one evaluation."""

    def __init__(self) -> None:
        self._limits: dict[str, ConcurrencyLimit] = {}
        self._rates: dict[str, RateLimiter] = {}
        self._held: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        """Slots held, per attempt token, per judge key."""
        self._dead: set[str] = set()
        self._pids: dict[str, int] = {}

    # -- attempts -------------------------------------------------------------------------

    def started(self, token: str, pid: int) -> None:
        """A shard attempt began in worker process ``pid``."""
        self._pids[token] = pid

    def finished(self, token: str) -> None:
        """A shard attempt ended (well or not): forget its pid, give back what it holds."""
        self._pids.pop(token, None)
        self.reclaim(token)

    def pids(self) -> dict[str, int]:
        """Worker pid of each running shard attempt."""
        return dict(self._pids)

    def reclaim(self, token: str) -> int:
        """Release every slot ``token`` holds (its worker died); slots freed."""
        self._dead.add(token)
        freed = 0
        for key, count in self._held.pop(token, {}).items():
            for _ in range(count):
                self._limits[key].release()
            freed += count
        return freed

    # -- concurrency ----------------------------------------------------------------------

    def _limit(self, key: str, limit: int) -> ConcurrencyLimit:
        found = self._limits.get(key)
        if found is None:
            found = self._limits[key] = ConcurrencyLimit(limit)
        return found

    async def lease(self, key: str, limit: int, token: str, want: int) -> int:
        """Wait for one of judge ``key``'s slots, then take up to ``want`` free ones; slots taken."""
        concurrency = self._limit(key, limit)
        await concurrency.acquire()
        if token in self._dead:
            concurrency.release()
            return 0
        got = 1
        while got < want and concurrency.try_acquire():
            got += 1
        self._held[token][key] += got
        return got

    def release(self, key: str, token: str, count: int = 1) -> None:
        """Give back ``count`` of ``token``'s slots of judge ``key``."""
        held = self._held.get(token)
        if held is None:
            return
        count = min(count, held.get(key, 0))
        held[key] -= count
        for _ in range(count):
            self._limits[key].release()

    def max_in_flight(self, key: str | None = None) -> int:
        """Most slots held at once over the evaluation (of one judge, or the largest)."""
        if key is not None:
            return self._limits[key].max_in_flight if key in self._limits else 0
        return max((c.max_in_flight for c in self._limits.values()), default=0)

    # -- rate -----------------------------------------------------------------------------

    def reserve(self, key: str, rpm: float | None, tpm: float | None, tokens: int) -> float:
        """Book a start time on account ``key``'s buckets; seconds the caller waits."""
        rate = self._rates.get(key)
        if rate is None:
            rate = self._rates[key] = RateLimiter(rpm, tpm)
        elif (rpm, tpm) != (rate.requests_per_minute, rate.tokens_per_minute):
            rate.tighten(rpm, tpm)  # two judges on one account: the stricter limits
        return rate.reserve(tokens)

    def record_usage(self, key: str, estimated: int, actual: int) -> None:
        """Correct account ``key``'s token bucket once a call's real usage is known."""
        rate = self._rates.get(key)
        if rate is not None:
            rate.record_usage(estimated, actual)
