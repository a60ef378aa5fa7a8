"""The limits every shard of a distributed run shares, held in one place (a Ray actor's body).

``Coordinator`` owns the run's one ``ConcurrencyLimit``, ``RateLimiter`` and ``CostBudget``,
so ``concurrency: 64`` and ``max_cost_usd`` mean the same over many worker processes as in
one. Each grant is booked against the shard attempt (``token``) that asked for it; when a
worker dies, the driver calls ``reclaim(token)`` and its slots and reservations come back.
It also collects the workers' progress events for the driver to drain and re-emit, and the
pid of each running attempt (tests kill workers by it).

This module imports no Ray: ``runner.ray_executor`` wraps the class with ``ray.remote``.
"""

from __future__ import annotations

from typing import Any

from chatbot_tester.common.calls.cost import PriceTable
from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.common.schemas import TestSample, Usage
from chatbot_tester.runner.budget import CostBudget

__all__ = ["Coordinator", "budget_for"]

_MAX_EVENTS = 100_000
"""Events kept for the driver at most (older ones are dropped if it stops draining)."""


def budget_for(
    config: RunnerConfig, *, spent_usd: float, completion_tokens: int, answers: int
) -> CostBudget | None:
    """The run's ``CostBudget`` (``None`` without ``max_cost_usd``), as the local runner builds it."""
    if config.max_cost_usd is None:
        return None
    max_tokens = config.params.get("max_tokens") or config.params.get("max_completion_tokens")
    return CostBudget(
        config.max_cost_usd,
        prices=PriceTable(config.prices),
        model=config.model,
        system_prompt=config.system_prompt,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        spent_usd=spent_usd,
        completion_tokens=completion_tokens,
        answers=answers,
    )


class _Holdings:
    __slots__ = ("dead", "reserved_usd", "slots")

    def __init__(self) -> None:
        self.slots = 0
        self.reserved_usd = 0.0
        self.dead = False


class Coordinator:
    """Shared concurrency, rate and budget for the shard attempts of one run."""

    def __init__(self, config: RunnerConfig, budget: CostBudget | None) -> None:
        self.concurrency = ConcurrencyLimit(
            config.concurrency, adaptive=config.adaptive_concurrency
        )
        rate = config.rate_limit
        self.rate: RateLimiter | None = None
        if rate.requests_per_minute is not None or rate.tokens_per_minute is not None:
            self.rate = RateLimiter(rate.requests_per_minute, rate.tokens_per_minute)
        self.budget = budget
        self._holdings: dict[str, _Holdings] = {}
        self._events: list[Any] = []
        self._pids: dict[str, int] = {}

    def _of(self, token: str) -> _Holdings:
        held = self._holdings.get(token)
        if held is None:
            held = self._holdings[token] = _Holdings()
        return held

    # -- attempts -------------------------------------------------------------------------

    def started(self, token: str, pid: int) -> None:
        """A shard attempt began in worker process ``pid``."""
        self._pids[token] = pid
        self._of(token)

    def finished(self, token: str) -> None:
        """A shard attempt ended (well or not): forget its pid, give back what it holds."""
        self._pids.pop(token, None)
        self.reclaim(token)

    def pids(self) -> dict[str, int]:
        """Worker pid of each running shard attempt."""
        return dict(self._pids)

    def reclaim(self, token: str) -> int:
        """Release every slot and reservation ``token`` holds (its worker died); slots freed."""
        held = self._of(token)
        held.dead = True
        freed = held.slots
        for _ in range(held.slots):
            self.concurrency.release()
        held.slots = 0
        if self.budget is not None and held.reserved_usd:
            self.budget.release(held.reserved_usd)
        held.reserved_usd = 0.0
        return freed

    # -- concurrency ----------------------------------------------------------------------

    async def acquire(self, token: str) -> bool:
        """Take one slot for ``token``; ``False`` (and nothing held) when it was reclaimed."""
        await self.concurrency.acquire()
        held = self._of(token)
        if held.dead:
            self.concurrency.release()
            return False
        held.slots += 1
        return True

    def release(self, token: str, count: int = 1) -> None:
        """Give back ``count`` of ``token``'s slots."""
        held = self._of(token)
        count = min(count, held.slots)
        held.slots -= count
        for _ in range(count):
            self.concurrency.release()

    async def lease(self, token: str, want: int) -> int:
        """Wait for one slot, then take up to ``want`` in all that are free now; slots taken.

        Workers lease slots in batches and hand idle ones back, so a request costs no call to
        this actor while its worker reuses a slot it holds.
        """
        if not await self.acquire(token):
            return 0
        got = 1
        held = self._of(token)
        while got < want and self.concurrency.try_acquire():
            held.slots += 1
            got += 1
        return got

    def on_rate_limited(self) -> None:
        """A call was rate limited (adaptive concurrency halves)."""
        self.concurrency.on_rate_limited()

    def on_success(self) -> None:
        """A call succeeded (adaptive concurrency grows back)."""
        self.concurrency.on_success()

    def max_in_flight(self) -> int:
        """Most slots held at once over the whole run (all workers together)."""
        return self.concurrency.max_in_flight

    # -- rate -----------------------------------------------------------------------------

    def reserve(self, tokens: int) -> float:
        """Book a start time for a request of ``tokens``; seconds the caller waits."""
        return 0.0 if self.rate is None else self.rate.reserve(tokens)

    def record_usage(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once a call's real usage is known."""
        if self.rate is not None:
            self.rate.record_usage(estimated, actual)

    # -- budget ---------------------------------------------------------------------------

    async def admit(self, token: str, sample: TestSample) -> float | None:
        """Reserve ``sample``'s estimated cost for ``token``; ``None`` past the budget."""
        if self.budget is None:
            return 0.0
        admitted = await self.budget.admit(sample)
        if admitted is None:
            return None
        held = self._of(token)
        if held.dead:
            self.budget.release(admitted)
            return None
        held.reserved_usd += admitted
        return admitted

    def settle(
        self, token: str, reserved: float, cost: float | None, usage: Usage | None, calls: int
    ) -> None:
        """Replace ``token``'s reservation by the sample's actual cost."""
        held = self._of(token)
        held.reserved_usd = max(0.0, held.reserved_usd - reserved)
        if self.budget is not None:
            self.budget.settle(reserved, cost, usage, calls)

    def unreserve(self, token: str, reserved: float) -> None:
        """Drop a reservation of ``token`` whose sample was cancelled."""
        held = self._of(token)
        held.reserved_usd = max(0.0, held.reserved_usd - reserved)
        if self.budget is not None:
            self.budget.release(reserved)

    def budget_message(self) -> str:
        """The budget's stop line (empty without a budget)."""
        return "" if self.budget is None else self.budget.message

    # -- events ---------------------------------------------------------------------------

    def push(self, token: str, events: list[Any]) -> None:
        """A worker hands over its progress events (frozen event dataclasses)."""
        self._events.extend((token, event) for event in events)
        if len(self._events) > _MAX_EVENTS:
            del self._events[: len(self._events) - _MAX_EVENTS]

    def drain(self) -> list[tuple[str, Any]]:
        """``(token, event)`` for the events pushed since the last drain, oldest first."""
        events, self._events = self._events, []
        return events
