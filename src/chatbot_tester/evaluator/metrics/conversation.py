"""``turn_pass_rate``: the fraction of a conversation's turns whose checks pass.

For each turn of a multi-turn sample it runs the turn's own ``assertions`` and, when
configured, one ``check`` metric on every turn that has an ``expected`` answer. A failed turn
(no reply) counts as failed. It scores the whole sample only (``per_turn = False``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chatbot_tester.common.schemas import Score
from chatbot_tester.common.types import empty_dict
from chatbot_tester.errors import ChatbotTesterError
from chatbot_tester.evaluator.metrics.base import (
    Metric,
    MetricContext,
    MetricInput,
    MetricOptions,
)
from chatbot_tester.evaluator.metrics.registry import metric_registry

__all__ = ["TurnPassRateMetric"]


class TurnPassRateOptions(MetricOptions):
    """Options of ``turn_pass_rate``."""

    check: str | None = None
    """Metric type run on every turn that has an expected answer (e.g. contains, token_f1)."""
    check_options: dict[str, Any] = Field(default_factory=empty_dict)
    """Options of the ``check`` metric."""


class TurnPassRateMetric(Metric[TurnPassRateOptions]):
    """Fraction of turns whose per-turn checks passed; passes when all did (or at threshold)."""

    Options = TurnPassRateOptions
    per_turn = False
    description = "Multi-turn: fraction of turns whose assertions (and optional check metric) pass."

    def __init__(self, options: TurnPassRateOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        self._check: Metric | None = None
        if options.check is not None:
            self._check = metric_registry.create(
                options.check, options.check_options, name=f"{name}.check", context=context
            )

    async def score(self, item: MetricInput) -> Score:
        """Run the checks of every turn and report the pass fraction."""
        sample, record = item.sample, item.record
        if sample.turns is None:
            return self.make(item, error=f"sample '{sample.id}' is not a multi-turn sample")
        if item.output is None and not record.turns:
            kind = record.error.kind.value if record.error else "missing"
            return self.make(item, error=f"no answer: {kind}")
        checked = passed = 0
        failures: list[str] = []
        for i, turn in enumerate(sample.turns):
            expected = (
                []
                if turn.expected is None
                else ([turn.expected] if isinstance(turn.expected, str) else list(turn.expected))
            )
            metrics: list[Metric] = []
            owned: list[Metric] = []
            if self._check is not None and expected:
                metrics.append(self._check)
            for n, assertion in enumerate(turn.assertions):
                try:
                    m = metric_registry.create(
                        assertion.type,
                        assertion.options,
                        name=f"assert:{assertion.type}:{n}",
                        context=self.context,
                    )
                except ChatbotTesterError as exc:
                    for m in owned:
                        await m.aclose()
                    return self.make(item, error=f"turn {i} assertion {n}: {exc}")
                metrics.append(m)
                owned.append(m)
            if not metrics:
                continue
            checked += 1
            try:
                ok, why = await self._turn_passes(item, i, expected, metrics)
            finally:
                for m in owned:
                    await m.aclose()
            if not ok:
                failures.append(why)
            passed += ok
        if checked == 0:
            return self.make(item, error=f"sample '{sample.id}' has no per-turn checks")
        value = passed / checked
        threshold = self.options.threshold
        ok_all = value >= threshold if threshold is not None else passed == checked
        reason = f"{passed}/{checked} turns passed" + (f"; {failures[0]}" if failures else "")
        return self.make(item, value, ok_all, reason=reason, details={"failures": failures[:20]})

    async def _turn_passes(
        self, item: MetricInput, i: int, expected: list[str], metrics: list[Metric]
    ) -> tuple[bool, str]:
        turn = next((t for t in item.record.turns or [] if t.index == i), None)
        response = turn.response if turn is not None else None
        if response is None:
            return False, f"turn {i}: no reply"
        sub = MetricInput(
            sample=item.sample,
            record=item.record,
            output=response.text,
            expected=expected,
            turn=i,
            conversation=item.conversation,
        )
        for m in metrics:
            s = await m.ascore(sub)
            if s.passed is not True:
                return False, f"turn {i}: {s.metric} {s.error or s.reason or 'failed'}"
        return True, ""

    async def aclose(self) -> None:
        """Close the ``check`` metric."""
        if self._check is not None:
            await self._check.aclose()
