"""``pairwise``: is the answer better than a reference answer? Asked twice, positions swapped.

LLM judges favour one position; asking once with the answer as A and once as B cancels that
out. A consistent preference is a win (value 1) or a loss (value 0); verdicts that change with
the order are a tie (value 0.5) flagged ``position_bias: true``. The reference is the
sample's ``metadata.baseline_output`` (e.g. the previous release's answer) or, failing that,
its first ``expected`` answer. Passes unless it is a loss (``threshold`` 0.5 by default).
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
from pydantic import Field

from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.metrics.base import MetricContext, MetricInput
from chatbot_tester.evaluator.metrics.judge_base import (
    JudgeBackendOptions,
    JudgeMetricBase,
    data_blocks,
)
from chatbot_tester.evaluator.metrics.judge_prompt import DataBlock, build_pairwise_messages
from chatbot_tester.evaluator.metrics.judge_verdict import parse_pairwise

__all__ = ["DEFAULT_PAIRWISE_RUBRIC", "PairwiseJudgeMetric", "PairwiseOptions"]

DEFAULT_PAIRWISE_RUBRIC = (
    "Prefer the answer that answers the question more correctly, completely and helpfully. "
    "Call it a tie when neither is clearly better."
)
"""Comparison criteria used when ``rubric`` is not set."""

Outcome = Literal["win", "loss", "tie"]
_VALUE: dict[Outcome, float] = {"win": 1.0, "loss": 0.0, "tie": 0.5}


def _outcome(winner: str, answer_position: str) -> Outcome:
    """The answer's result in one ordering, given the judge's winner."""
    if winner == "tie":
        return "tie"
    return "win" if winner == answer_position else "loss"


class PairwiseOptions(JudgeBackendOptions):
    """Options of ``pairwise``."""

    threshold: float | None = Field(default=0.5, ge=0.0, le=1.0)
    """Pass when the value (win 1, tie 0.5, loss 0) reaches this; 0.5 passes ties."""
    rubric: str | None = None
    """What makes one answer better (default: correctness, completeness, helpfulness)."""
    reference_key: str = "baseline_output"
    """Sample metadata key holding the reference answer (falls back to ``expected``)."""


class PairwiseJudgeMetric(JudgeMetricBase[PairwiseOptions]):
    """Compare the answer with a reference answer in both orders; flag position bias."""

    Options = PairwiseOptions
    description = "Pairwise LLM judge: answer vs a reference/baseline answer, positions swapped."

    def __init__(self, options: PairwiseOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        self.opts = options
        self.rubric = options.rubric or DEFAULT_PAIRWISE_RUBRIC

    def reference(self, item: MetricInput) -> str | None:
        """The answer to compare against, or ``None`` when the sample has none."""
        value = item.sample.metadata.get(self.opts.reference_key)
        if isinstance(value, str) and value:
            return value
        return item.expected[0] if item.expected else None

    async def _ask(self, blocks: list[DataBlock], item_id: str) -> tuple[str | None, str | None]:
        """One ordering: the winner ("A", "B", "tie") or an error."""
        messages = build_pairwise_messages(self.rubric, blocks)
        params = dict(self.judge_config.params)
        params.setdefault("temperature", 0)

        def valid(text: str) -> bool:
            try:
                parse_pairwise(text)
            except ValueError:
                return False
            return True

        reply = await self.client.ask(messages, params, accept=valid, item_id=item_id)
        if reply.text is None:
            return None, reply.error or "judge call failed"
        try:
            return parse_pairwise(reply.text).winner, None
        except ValueError as exc:
            return None, str(exc)

    async def score(self, item: MetricInput) -> Score:
        """Ask with the answer as A, then as B, and combine the two preferences."""
        if item.output is None:
            return self.no_answer(item)
        reference = self.reference(item)
        if reference is None:
            return self.make(
                item,
                error=f"pairwise needs a reference answer: set the sample's "
                f"metadata.{self.opts.reference_key} or expected",
            )
        context = data_blocks(
            item,
            include_context=self.opts.include_context,
            max_chars=self.opts.max_chars,
            reference=False,
        )
        answer = DataBlock("answer_a", item.output[: self.opts.max_chars])
        ref = DataBlock("answer_b", reference[: self.opts.max_chars])
        orders = [
            [*context, answer, ref],  # the answer under test is A
            [*context, DataBlock("answer_a", ref.text), DataBlock("answer_b", answer.text)],
        ]
        results: list[tuple[str | None, str | None]] = [(None, None), (None, None)]

        async def run(i: int) -> None:
            results[i] = await self._ask(orders[i], item.record.sample_id)

        async with anyio.create_task_group() as tg:
            for i in range(2):
                tg.start_soon(run, i)
        (first, err1), (second, err2) = results
        details: dict[str, Any] = {
            "winners": {"answer_as_a": first, "answer_as_b": second},
            "judge": self.judge_details(),
        }
        if first is None or second is None:
            return self.make(item, error=f"judge: {err1 or err2}", details=details)
        as_first, as_second = _outcome(first, "A"), _outcome(second, "B")
        outcome: Outcome = as_first if as_first == as_second else "tie"
        details.update(outcome=outcome, position_bias=as_first != as_second)
        details["orders"] = {"answer_as_a": as_first, "answer_as_b": as_second}
        reason = f"{outcome} against the reference"
        if as_first != as_second:
            reason += f" (inconsistent: {as_first} as A, {as_second} as B: position bias)"
        return self.make(item, _VALUE[outcome], reason=reason, details=details)
