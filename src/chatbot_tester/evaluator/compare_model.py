"""The comparison model: what ``compare_runs`` returns and the compare reports render.

Kept apart from the loading and the statistics so the reports can import it without importing
the comparison itself (no import circle).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.types import empty_list

__all__ = [
    "COMPARE_FILES",
    "Comparison",
    "Direction",
    "MetricComparison",
    "RunSide",
    "StatDelta",
    "Verdict",
]

COMPARE_FILES = {
    "compare_md": "compare.md",
    "compare_html": "compare.html",
    "compare_json": "compare.json",
}
"""Report key -> file name written by ``write_comparison``."""

Verdict = Literal["regression", "improvement", "no_change"]
Direction = Literal["higher", "lower"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSide(_Model):
    """One side of the comparison."""

    path: str
    """The run directory."""
    run_id: str
    """The run id (the directory name)."""
    samples: int
    """Samples with at least one whole-sample score."""
    status: str | None = None
    """The manifest's run status (``None`` without a manifest)."""


class MetricComparison(_Model):
    """Baseline versus candidate on one metric, over the baseline's samples."""

    metric: str
    """Metric label."""
    direction: Direction = "higher"
    """Whether a higher or a lower value is better (from the metric's declaration)."""
    test: Literal["mcnemar", "paired_bootstrap", "none"] = "none"
    """The metric's one primary test: exact McNemar on verdicts, else the paired mean test."""
    statistic: Literal["mean", "p50", "p95"] = "mean"
    """What ``delta`` compares for a graded metric: the mean (default) or a percentile."""
    n_paired: int
    """Pairs behind the mean delta (candidate gaps filled with the worst value)."""
    missing_in_candidate: int = 0
    """Baseline samples absent, errored or unscored in the candidate (counted against it)."""
    baseline_mean: float | None = None
    """Mean value in the baseline (paired samples)."""
    candidate_mean: float | None = None
    """Mean value in the candidate (paired samples)."""
    delta: float | None = None
    """Candidate minus baseline ``statistic`` (the mean unless a percentile was chosen)."""
    relative_delta: float | None = None
    """``delta`` relative to the baseline mean (``None`` when that is 0)."""
    delta_ci_low: float | None = None
    """Lower end of the paired bootstrap CI of ``delta``."""
    delta_ci_high: float | None = None
    """Upper end of the paired bootstrap CI of ``delta``."""
    min_effect: float = 0.0
    """Practical-significance margin: a change must exceed it (relative to the baseline mean)."""
    n_pass_paired: int = 0
    """Samples of both runs judged by this pass/fail metric (errored or unscored count as fail)."""
    baseline_pass_rate: float | None = None
    """Pass rate in the baseline: the mean of each sample's share of passing repeats."""
    candidate_pass_rate: float | None = None
    """Pass rate in the candidate (over ``n_pass_paired``)."""
    pass_rate_delta: float | None = None
    """Candidate minus baseline pass rate."""
    pass_to_fail: int = 0
    """Samples whose share of passing repeats went down."""
    fail_to_pass: int = 0
    """Samples whose share of passing repeats went up."""
    p_value: float | None = None
    """Raw two-sided p-value of the primary test."""
    p_adjusted: float | None = None
    """``p_value`` after the familywise correction across metrics (Holm by default)."""
    significant: bool = False
    """Adjusted p below alpha and the effect larger than ``min_effect``."""
    verdict: Verdict = "no_change"
    """regression, improvement or no_change (following ``direction``)."""
    regressions: list[str] = Field(default_factory=empty_list)
    """Sample ids that went from pass to fail (or to an error)."""
    error_regressions: list[str] = Field(default_factory=empty_list)
    """The ``regressions`` whose candidate errored or was not scored (reason "error")."""
    improvements: list[str] = Field(default_factory=empty_list)
    """Sample ids that went from fail to pass."""
    baseline_errors: int = 0
    """Paired samples the metric errored on (or did not score) in the baseline."""
    candidate_errors: int = 0
    """Paired samples the metric errored on (or did not score) in the candidate."""
    only_baseline: int = 0
    """Samples scored by this metric in the baseline only."""
    only_candidate: int = 0
    """Samples scored by this metric in the candidate only."""


class StatDelta(_Model):
    """An operational figure from both reports (latency, cost, errors)."""

    name: str
    """``section.stat`` as in report.json."""
    baseline: float | None = None
    candidate: float | None = None
    delta: float | None = None
    """Candidate minus baseline."""


class Comparison(_Model):
    """The result of ``compare_runs``; rendered by the compare reports and the CLI."""

    schema_version: int = 2
    """Format version (2: directions, adjusted p-values, missing data, differences)."""
    baseline: RunSide
    candidate: RunSide
    alpha: float
    """Significance level (familywise with Holm)."""
    correction: Literal["holm", "none"] = "holm"
    """Familywise correction across metrics applied before the verdicts."""
    missing_in_candidate: int = 0
    """Baseline samples with no whole-sample score at all in the candidate."""
    partial_candidate: bool = False
    """The candidate run did not complete (crashed, interrupted); a regression unless allowed."""
    allow_partial: bool = False
    """Whether a partial candidate was accepted (``--allow-partial``)."""
    differences: list[str] = Field(default_factory=empty_list)
    """Ways the runs are not like-for-like (accepted with ``--force``), shown at the top."""
    metrics: list[MetricComparison] = Field(default_factory=empty_list)
    """One entry per metric scored in either run."""
    only_in_baseline: list[str] = Field(default_factory=empty_list)
    """Sample ids scored in the baseline only."""
    only_in_candidate: list[str] = Field(default_factory=empty_list)
    """Sample ids scored in the candidate only."""
    operational: list[StatDelta] = Field(default_factory=empty_list)
    """Latency, cost, token and error deltas from the two report.json files."""
    notes: list[str] = Field(default_factory=empty_list)
    """Things the reader should know (missing report, metrics in one run only)."""

    @property
    def regressed_metrics(self) -> list[str]:
        """Metrics with a significant regression."""
        return [m.metric for m in self.metrics if m.verdict == "regression"]

    @property
    def has_regression(self) -> bool:
        """True when any metric regressed significantly or the candidate is partial."""
        partial = self.partial_candidate and not self.allow_partial
        return bool(self.regressed_metrics) or partial

    @property
    def exit_code(self) -> int:
        """1 when the candidate regressed significantly (or is partial), else 0."""
        return 1 if self.has_regression else 0
