"""Operational metrics: ``latency``, ``ttft`` and ``cost`` against configured maxima.

The value is the measurement itself (milliseconds or USD); ``passed`` is ``value <= max``
when a maximum is set. A record without the measurement (not streamed, unknown price) gets an
error Score instead of a made-up number. Per-turn inputs use the turn's own timings.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.metrics.base import MetricInput, MetricOptions, OptionsT
from chatbot_tester.evaluator.metrics.helpers import AnswerMetric, turn_record

__all__ = ["CostMetric", "LatencyMetric", "TtftMetric"]


class MaxMsOptions(MetricOptions):
    """Options of the timing metrics."""

    max_ms: float | None = Field(default=None, gt=0)
    """Pass when the measurement is at most this many milliseconds."""


class MaxUsdOptions(MetricOptions):
    """Options of ``cost``."""

    max_usd: float | None = Field(default=None, ge=0)
    """Pass when the sample cost at most this many US dollars."""


class _MeasureMetric(AnswerMetric[OptionsT]):
    """Shared logic: read one measurement and compare it with a maximum."""

    direction = "lower"
    unit: ClassVar[str] = "ms"
    what: ClassVar[str] = "latency"

    def measure(self, item: MetricInput) -> float | None:
        """The measurement for this record or turn, or ``None`` when missing."""
        raise NotImplementedError

    def limit(self) -> float | None:
        """The configured maximum."""
        return getattr(self.options, "max_ms", None)

    def check(self, item: MetricInput, output: str) -> Score:
        """Compare the measurement with the maximum."""
        value = self.measure(item)
        if value is None:
            where = f"sample '{item.record.sample_id}'"
            if item.turn is not None:
                where += f" turn {item.turn}"
            return self.make(item, error=f"no {self.what} measured for {where}")
        limit = self.limit()
        shown = f"{value:.6f} USD" if self.unit == "USD" else f"{value:.0f} {self.unit}"
        if limit is None:
            return self.make(item, value, reason=shown)
        ok = value <= limit
        max_shown = f"{limit:g} {self.unit}"
        return self.make(item, value, ok, reason=f"{shown} {'<=' if ok else '>'} max {max_shown}")


class LatencyMetric(_MeasureMetric[MaxMsOptions]):
    """Wall time of the answer (the turn's, for per-turn inputs)."""

    Options = MaxMsOptions
    description = "Response latency in ms (passes when <= max_ms)."

    def measure(self, item: MetricInput) -> float | None:
        """The turn's or record's latency in milliseconds."""
        t = turn_record(item)
        return t.latency_ms if t is not None else item.record.latency_ms


class TtftMetric(_MeasureMetric[MaxMsOptions]):
    """Time to first token of a streamed answer."""

    Options = MaxMsOptions
    what = "time to first token (stream: true)"
    description = "Time to first token in ms of streamed answers (passes when <= max_ms)."

    def measure(self, item: MetricInput) -> float | None:
        """The turn's or record's TTFT in milliseconds."""
        t = turn_record(item)
        return t.ttft_ms if t is not None else item.record.ttft_ms


class CostMetric(_MeasureMetric[MaxUsdOptions]):
    """Cost of the whole sample in USD (not scored per turn)."""

    Options = MaxUsdOptions
    per_turn = False
    unit = "USD"
    what = "cost (price unknown)"
    description = "Cost of the sample in USD (passes when <= max_usd)."

    def limit(self) -> float | None:
        """The configured maximum in USD."""
        return getattr(self.options, "max_usd", None)

    def measure(self, item: MetricInput) -> float | None:
        """The record's cost in USD."""
        return item.record.cost_usd
