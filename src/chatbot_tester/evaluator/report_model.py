"""``report.json`` as a typed, versioned model: ``EvalReport`` and its parts.

The evaluator's summary code builds it, the reporters and the orchestrator read it, and it is
written with ``EvalReport.to_json_dict`` (fields that were never set, such as the interval
keys of per-tag blocks or the repeat keys of a run without repeats, are left out, so the JSON
shape is the one report.json always had). Older readers that take dicts keep working on that
dump; ``EvalReport.model_validate`` reads any report.json back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chatbot_tester.common.schemas import SCHEMA_VERSION
from chatbot_tester.common.types import empty_dict, empty_list

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "CostTotals",
    "Decision",
    "Distribution",
    "EvalReport",
    "GateOutcome",
    "MetricStats",
    "Spend",
    "TokenTotals",
    "Totals",
]

REPORT_SCHEMA_VERSION = SCHEMA_VERSION
"""Version of the ``report.json`` layout."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class Totals(_Part):
    """Counts over the run's samples and records."""

    samples: int = 0
    """Samples in the dataset."""
    records: int = 0
    """Run records (one per sample and repeat, de-duplicated)."""
    ok: int = 0
    """Records with an answer."""
    errors: int = 0
    """Records that ended in an error."""
    errors_by_kind: dict[str, int] = Field(default_factory=empty_dict)
    """Errored records by error kind (timeout, rate_limited, ...)."""
    missing: int = 0
    """Samples without any record (not run, or the run was interrupted)."""
    repeats: int = 1
    """Most repeats of a sample seen in the records (``repeat: k``)."""
    error_rate: float = 0.0
    """errors / records (0 without records)."""


class MetricStats(_Part):
    """One metric's aggregate (per sample first when the run has repeats)."""

    mean: float | None = None
    """Mean value over scored samples (``None`` when no value was given)."""
    ci_low: float | None = None
    """Lower end of the 95% bootstrap CI of the mean (absent in per-tag blocks)."""
    ci_high: float | None = None
    """Upper end of the 95% bootstrap CI of the mean (absent in per-tag blocks)."""
    pass_rate: float | None = None
    """passed / (passed + failed + errors); ``None`` for a metric without verdicts."""
    pass_ci_low: float | None = None
    """Lower end of the 95% Wilson interval of the pass rate (absent in per-tag blocks)."""
    pass_ci_high: float | None = None
    """Upper end of the 95% Wilson interval of the pass rate (absent in per-tag blocks)."""
    passed: int = 0
    """Passing verdicts (samples, with repeats)."""
    failed: int = 0
    """Failing verdicts (samples, with repeats)."""
    scored: int = 0
    """Scores without an error."""
    total: int = 0
    """Scores that should exist (for "scored n of N")."""
    errors: int = 0
    """Scores that errored (no answer, judge failure, metric crash)."""
    unstable: int = 0
    """Scores whose judge votes disagreed."""
    samples: int | None = None
    """Samples scored (only with repeats)."""
    flaky: int | None = None
    """Samples whose repeats disagree on pass (only with repeats)."""
    flip_rate: float | None = None
    """flaky / samples with at least two repeats (only with repeats)."""


class Distribution(_Part):
    """Mean and percentiles of a per-record measurement (latency, TTFT)."""

    mean: float | None = None
    """Mean in ms."""
    p50: float | None = None
    """Median in ms."""
    p95: float | None = None
    """95th percentile in ms."""
    p99: float | None = None
    """99th percentile in ms."""
    count: int = 0
    """Records measured."""


class TokenTotals(_Part):
    """Token usage summed over records (``None`` when no record reported usage)."""

    prompt: int | None = None
    """Prompt tokens."""
    completion: int | None = None
    """Completion tokens."""
    total: int | None = None
    """Total tokens."""
    estimated: bool = False
    """True when some counts were estimated rather than reported by the backend."""


class CostTotals(_Part):
    """Cost in USD summed over priced records."""

    total: float | None = None
    """Dollars over the priced records (``None`` when nothing was priced)."""
    known: int = 0
    """Records with a known cost."""
    unknown: int = 0
    """Records that reached the backend but could not be priced."""


class Spend(_Part):
    """Calls, tokens and cost of the LLM calls a stage made on its own account (the judge's)."""

    calls: int = 0
    """Calls answered by the model (cache hits excluded)."""
    cached: int = 0
    """Calls answered from the cache (free)."""
    failed: int = 0
    """Calls that ended in an error."""
    tokens: TokenTotals = Field(default_factory=TokenTotals)
    """Token usage of the answered calls."""
    cost_usd: float | None = None
    """Dollars over the priced calls (``None`` when nothing was priced)."""
    unpriced: int = 0
    """Answered calls whose model has no known price."""

    def describe(self) -> str:
        """``12 calls (3 cached, 1 failed), 4321 tokens, $0.0123`` for reports and the console."""
        extra = [
            f"{n} {what}" for n, what in ((self.cached, "cached"), (self.failed, "failed")) if n
        ]
        text = f"{self.calls} calls" + (f" ({', '.join(extra)})" if extra else "")
        if self.tokens.total is not None:
            text += f", {self.tokens.total} tokens" + (
                " (estimated)" if self.tokens.estimated else ""
            )
        if self.cost_usd is not None:
            text += f", ${self.cost_usd:.4f}"
            if self.unpriced:
                text += f" ({self.unpriced} calls unpriced)"
        elif self.calls:
            text += ", cost unknown"
        return text


class GateOutcome(_Part):
    """The outcome of one gate (``evaluator.thresholds``)."""

    expr: str
    """The gate as written."""
    passed: bool
    """Whether the run meets it (a gate that cannot be evaluated fails)."""
    actual: float | None = None
    """The value found in the report (``None`` when missing)."""
    message: str = ""
    """One line: ``gate failed: <expr> (actual 0.72)`` or why it could not be evaluated."""


class Decision(_Part):
    """Whether the run passes, and every reason it does not: one decision for all outputs.

    The exit code, the PASSED/FAILED badge of report.html, report.md's heading and ``passed``
    in report.json all read this object.
    """

    passed: bool = True
    """True when nothing below failed (the run exits 0)."""
    failed_gates: list[GateOutcome] = Field(default_factory=empty_list)
    """The gates that failed."""
    problems: list[str] = Field(default_factory=empty_list)
    """Other reasons: errors beyond tolerance, unscored samples, a baseline regression."""

    @property
    def exit_code(self) -> int:
        """0 when passed, else 1."""
        return 0 if self.passed else 1

    @property
    def reasons(self) -> list[str]:
        """Failed gates then problems, one line each."""
        return [*(g.message for g in self.failed_gates), *self.problems]


class EvalReport(BaseModel):
    """The summary of one evaluation: what ``report.json`` holds."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = REPORT_SCHEMA_VERSION
    """Version of this layout."""
    run_id: str = ""
    """The evaluated run's id (empty outside a workspace)."""
    pipeline: str = ""
    """The pipeline's name."""
    title: str = "chatbot-tester report"
    """Report title (``evaluator.report.title``, else the pipeline name or run id)."""
    generated_at: str = ""
    """When the summary was built (ISO 8601, UTC)."""
    totals: Totals = Field(default_factory=Totals)
    """Counts of samples, records and errors."""
    metrics: dict[str, MetricStats] = Field(default_factory=empty_dict)
    """Per metric (whole sample), in configuration order."""
    turn_metrics: dict[str, MetricStats] = Field(default_factory=empty_dict)
    """Per metric scored on each turn of a conversation."""
    latency: Distribution = Field(default_factory=Distribution)
    """Latency of the answered records."""
    ttft: Distribution = Field(default_factory=Distribution)
    """Time to first token of the streamed records."""
    tokens: TokenTotals = Field(default_factory=TokenTotals)
    """Token usage."""
    cost: CostTotals = Field(default_factory=CostTotals)
    """Cost in USD (the bot's calls)."""
    judge_spend: Spend | None = None
    """LLM-judge calls made by this evaluation, counted apart from the bot's (``None``: no
    judge metric)."""
    tags: dict[str, dict[str, MetricStats]] = Field(default_factory=empty_dict)
    """Per tag, per metric (without intervals, except for ``pack:`` and ``strategy:`` tags)."""
    gates: list[GateOutcome] = Field(default_factory=empty_list)
    """Every gate, in order."""
    passed: bool = True
    """The run's verdict (``decision.passed``)."""
    decision: Decision = Field(default_factory=Decision)
    """Why the run passes or fails (gates, error rate, unscored samples, baseline)."""

    @model_validator(mode="before")
    @classmethod
    def _decision_from_passed(cls, data: Any) -> Any:
        """A report.json written before ``decision`` existed: derive it from ``passed``."""
        if isinstance(data, dict) and "decision" not in data and "passed" in data:
            failed = [g for g in data.get("gates", []) if not g.get("passed")]
            data = {**data, "decision": {"passed": data["passed"], "failed_gates": failed}}
        return data

    def with_decision(self, decision: Decision) -> EvalReport:
        """A copy carrying ``decision`` (and ``passed`` from it)."""
        return self.model_copy(update={"decision": decision, "passed": decision.passed})

    def metric_labels(self) -> list[str]:
        """Whole-sample metrics then turn-only metrics, each once."""
        return list(self.metrics) + [m for m in self.turn_metrics if m not in self.metrics]

    def to_json_dict(self) -> dict[str, Any]:
        """The report.json content (JSON types; keys never set are left out)."""
        return self.model_dump(mode="json", exclude_unset=True)
