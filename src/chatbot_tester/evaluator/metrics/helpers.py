"""Shared pieces of the built-in metrics: answer checks, reference lookup, option types.

Built-in metrics derive from ``AnswerMetric``: it turns an error record into a Score with
``error="no answer: <kind>"`` and hands the answer text to ``check``. Metrics that need a
reference call ``references``; a missing one is an error Score, never a silent 0.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable
from typing import Any

from pydantic import Field, field_validator

from chatbot_tester.common.schemas import ChatResponse, Score, TurnRecord
from chatbot_tester.evaluator.metrics.base import Metric, MetricInput, MetricOptions, OptionsT

__all__ = [
    "AnswerMetric",
    "ValueOptions",
    "answer_error_kind",
    "bool_score",
    "missing_reference",
    "references",
    "response_for",
    "turn_record",
    "verdict",
]


def turn_record(item: MetricInput) -> TurnRecord | None:
    """The record of the turn under test, or ``None`` when scoring the whole sample."""
    turns = item.record.turns
    if item.turn is None or not turns:
        return None
    for t in turns:
        if t.index == item.turn:
            return t
    return turns[item.turn] if 0 <= item.turn < len(turns) else None


def response_for(item: MetricInput) -> ChatResponse | None:
    """The response under test: the turn's reply for per-turn inputs, else the record's."""
    if item.turn is not None:
        t = turn_record(item)
        return t.response if t is not None else None
    return item.record.response


def answer_error_kind(item: MetricInput) -> str:
    """Why there is no answer: the error kind of the turn or record (``missing`` if none)."""
    t = turn_record(item)
    if t is not None and t.error is not None:
        return t.error.kind.value
    if item.record.error is not None:
        return item.record.error.kind.value
    return "missing"


def missing_reference(metric: Metric, item: MetricInput, what: str = "expected answer") -> Score:
    """The error Score for a metric that needs a reference the sample does not have."""
    where = f"sample '{item.record.sample_id}'"
    if item.turn is not None:
        where += f" turn {item.turn}"
    return metric.make(item, error=f"no {what} for {where}")


def references(item: MetricInput, override: str | list[str] | None) -> list[str]:
    """The reference strings: the metric's own ``value`` option if set, else the expected answers."""
    if override is None:
        return list(item.expected)
    return [override] if isinstance(override, str) else list(override)


class ValueOptions(MetricOptions):
    """Options of metrics compared against a reference or a configured value."""

    value: str | list[str] | None = Field(default=None)
    """Reference(s) to use instead of the sample's expected answers."""

    @field_validator("value")
    @classmethod
    def _non_empty(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and not v:
            raise ValueError("must not be an empty list")
        return v


class AnswerMetric(Metric[OptionsT]):
    """A metric over the answer text; error records become error Scores automatically."""

    def score(self, item: MetricInput) -> Score | Awaitable[Score]:
        """Check the answer, or report why there is none."""
        if item.output is None:
            return self.make(item, error=f"no answer: {answer_error_kind(item)}")
        return self.check(item, item.output)

    @abstractmethod
    def check(self, item: MetricInput, output: str) -> Score | Awaitable[Score]:
        """Score ``output`` (the answer text, never ``None``)."""


def verdict(metric: Metric, value: float, natural: bool) -> bool:
    """``value >= threshold`` when the user set a threshold, else the metric's natural verdict."""
    threshold = getattr(metric.options, "threshold", None)
    return natural if threshold is None else value >= threshold


def bool_score(
    metric: Metric,
    item: MetricInput,
    ok: bool,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> Score:
    """A 1/0 Score whose ``passed`` is the verdict itself (or ``value >= threshold`` if set)."""
    value = 1.0 if ok else 0.0
    return metric.make(item, value, verdict(metric, value, ok), reason=reason, details=details)
