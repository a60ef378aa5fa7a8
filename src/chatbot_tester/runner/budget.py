"""Stop scheduling before ``max_cost_usd`` would be exceeded.

Before a sample is sent, its cost is estimated (prompt tokens counted locally, completion
tokens from the running average of answers so far) and reserved; when the money spent plus
what in-flight samples are expected to cost plus this estimate would pass the budget, the
runner stops scheduling and the run ends ``budget_exhausted`` (resumable). Money spent by
earlier invocations of the same run counts: resuming needs a larger budget.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chatbot_tester.common.schemas import TestSample, Usage
from chatbot_tester.errors import ConfigError

if TYPE_CHECKING:
    from chatbot_tester.common.calls.cost import PriceTable
    from chatbot_tester.common.config import Price

__all__ = ["CostBudget"]


class CostBudget:
    """Running spend, reservations for in-flight samples, and the admit/settle bookkeeping."""

    def __init__(
        self,
        limit_usd: float,
        *,
        prices: PriceTable,
        model: str | None,
        system_prompt: str | None,
        max_tokens: int | None,
        spent_usd: float = 0.0,
        completion_tokens: int = 0,
        answers: int = 0,
    ) -> None:
        price = prices.price(model)
        if price is None:
            raise ConfigError(
                f"runner.max_cost_usd is set but the price of model '{model}' is unknown: "
                "add it under runner.prices (input_per_million, output_per_million)"
            )
        self.limit_usd = limit_usd
        self.price: Price = price
        self.model = model
        self._prices = prices
        self._system = system_prompt or ""
        self._max_tokens = max_tokens
        self.spent_usd = spent_usd
        """Cost of every record so far (earlier invocations included)."""
        self.reserved_usd = 0.0
        """Estimated cost of the samples in flight."""
        self._completion_tokens = completion_tokens
        self._answers = answers
        self._settled: asyncio.Event | None = None

    def _expected_completion(self) -> float:
        if self._answers:
            return self._completion_tokens / self._answers
        from chatbot_tester.common.calls.cost import DEFAULT_COMPLETION_TOKENS

        return float(self._max_tokens or DEFAULT_COMPLETION_TOKENS)

    def estimate(self, sample: TestSample) -> float:
        """Expected cost in USD of sending ``sample`` once (every turn, history included)."""
        from chatbot_tester.common.calls.cost import sample_usage

        usage, _ = sample_usage(
            sample,
            model=self.model,
            system_prompt=self._system,
            completion=self._expected_completion(),
        )
        return self._prices.cost(self.model, usage) or 0.0

    async def admit(self, sample: TestSample) -> float | None:
        """Reserve the sample's estimated cost; ``None`` when it would exceed the budget.

        When it fits the budget but not next to the reservations of samples in flight, wait
        for those to settle (their real cost is often below the estimate) and look again.
        """
        while True:
            estimate = self.estimate(sample)
            if self.spent_usd + self.reserved_usd + estimate <= self.limit_usd:
                self.reserved_usd += estimate
                return estimate
            if self.reserved_usd <= 0 or self.spent_usd + estimate > self.limit_usd:
                return None
            if self._settled is None:
                self._settled = asyncio.Event()
            await self._settled.wait()

    def settle(
        self, reserved: float, cost: float | None, usage: Usage | None, calls: int = 1
    ) -> None:
        """Replace a reservation by the actual cost, and learn the completion length per call."""
        self._release(reserved)
        if cost is not None:
            self.spent_usd += cost
        if usage is not None and usage.completion_tokens is not None:
            self._completion_tokens += usage.completion_tokens
            self._answers += max(1, calls)

    def release(self, reserved: float) -> None:
        """Drop a reservation whose sample was cancelled."""
        self._release(reserved)

    def _release(self, reserved: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - reserved)
        if self.reserved_usd < 1e-12:
            self.reserved_usd = 0.0
        if self._settled is not None:
            self._settled.set()
            self._settled = None

    @property
    def message(self) -> str:
        """One line for the summary when the budget stopped the run."""
        return (
            f"budget of ${self.limit_usd:g} reached: ${self.spent_usd:.4f} spent, "
            "the next sample would exceed it"
        )
