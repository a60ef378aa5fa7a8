"""Count and price the calls of a generation step, and stop it at ``generator.max_cost_usd``.

``Meter`` adds up calls, cache hits and the cost of the answered (not cached) calls with the
price table; ``MeteredClient`` checks the budget before each call and charges it after. Once
the spend reaches the limit no new call starts (calls already in flight finish), the step
reports what it could not write, and nothing is stored; answered calls are in the response
cache, so a rerun with a higher limit pays only for the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chatbot_tester.common.calls.client import BackendClient
    from chatbot_tester.common.calls.cost import PriceTable
    from chatbot_tester.common.calls.policy import CallOutcome
    from chatbot_tester.common.schemas import ChatRequest

__all__ = ["BudgetReached", "Caller", "Meter", "MeteredClient"]


class BudgetReached(Exception):
    """Raised before a call once the spend has reached the limit (caught by the step)."""


class Caller(Protocol):
    """What a generation step calls: ``BackendClient.call``'s shape."""

    async def call(
        self, request: ChatRequest, item_id: str = "", *, salt: Any = None
    ) -> CallOutcome:
        """Make one logical call."""
        ...


class Meter:
    """Calls, cache hits and spend of one generation step, against an optional limit."""

    def __init__(self, limit_usd: float | None, prices: PriceTable) -> None:
        self.limit_usd = limit_usd
        self.prices = prices
        self.calls = 0
        self.cached = 0
        self.spent_usd = 0.0
        self.reached = False

    def check(self) -> None:
        """Refuse a new call once the limit is reached."""
        if self.limit_usd is not None and self.spent_usd >= self.limit_usd:
            self.reached = True
            raise BudgetReached(f"generator.max_cost_usd (${self.limit_usd:g}) reached")

    def record(self, outcome: CallOutcome, model: str | None) -> None:
        """Count one call; charge its cost unless it came from the cache."""
        self.calls += 1
        self.cached += int(outcome.cached)
        if not outcome.cached and outcome.usage is not None:
            self.spent_usd += self.prices.cost(model, outcome.usage) or 0.0


class MeteredClient:
    """A ``BackendClient`` whose calls are counted and charged to a shared ``Meter``."""

    def __init__(self, client: BackendClient, meter: Meter, model: str | None) -> None:
        self.client = client
        self.meter = meter
        self.model = model

    async def call(
        self, request: ChatRequest, item_id: str = "", *, salt: Any = None
    ) -> CallOutcome:
        """Check the budget, make the call, charge it."""
        self.meter.check()
        outcome = await self.client.call(request, item_id, salt=salt)
        self.meter.record(outcome, self.model)
        return outcome
