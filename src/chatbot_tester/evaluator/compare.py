"""Compare two evaluated runs with paired statistics to tell a regression from noise.

Samples are paired by id (whole-sample scores, ``turn`` None; repeats averaged per sample).
Per metric: the mean delta with a paired bootstrap CI, the pass-rate delta with McNemar's
exact test on the samples that flipped, and a verdict. For pass/fail metrics a sample the
metric errored on or did not score (the chatbot crashed, the judge failed) counts as a
**fail** on that side, so a candidate that errors where the baseline passed regresses
(those samples are listed with reason "error"). Two runs without a shared sample id cannot
be compared: ``ConfigError``. A change is *significant* when
McNemar's p < alpha (pass/fail metrics) or the delta's CI excludes 0 (graded metrics; for a
metric whose values are only 0/1 the exact test alone decides, since a percentile bootstrap
over a handful of flips is too eager). Everything else is noise: ``no_change``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.stats import mcnemar_exact, paired_bootstrap_diff

__all__ = [
    "COMPARE_FILES",
    "Comparison",
    "MetricComparison",
    "RunSide",
    "StatDelta",
    "compare_runs",
    "write_comparison",
]

COMPARE_FILES = {
    "compare_md": "compare.md",
    "compare_html": "compare.html",
    "compare_json": "compare.json",
}
"""Report key -> file name written by ``write_comparison``."""

Verdict = Literal["regression", "improvement", "no_change"]

_OPERATIONAL = [
    ("latency", "p50"),
    ("latency", "p95"),
    ("ttft", "p95"),
    ("cost", "total"),
    ("tokens", "total"),
    ("totals", "errors"),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class RunSide(_Model):
    """One side of the comparison."""

    path: str
    """The run directory."""
    run_id: str
    """The run id (the directory name)."""
    samples: int
    """Samples with at least one whole-sample score."""


class MetricComparison(_Model):
    """Baseline versus candidate on one metric, over the samples both runs scored."""

    metric: str
    """Metric label."""
    n_paired: int
    """Samples with a value of the metric in both runs (the pairs behind the mean delta)."""
    baseline_mean: float | None = None
    """Mean value in the baseline (paired samples)."""
    candidate_mean: float | None = None
    """Mean value in the candidate (paired samples)."""
    delta: float | None = None
    """Candidate minus baseline mean."""
    delta_ci_low: float | None = None
    """Lower end of the paired bootstrap CI of ``delta``."""
    delta_ci_high: float | None = None
    """Upper end of the paired bootstrap CI of ``delta``."""
    n_pass_paired: int = 0
    """Samples of both runs judged by this pass/fail metric (errored or unscored count as fail)."""
    baseline_pass_rate: float | None = None
    """Pass rate in the baseline (over ``n_pass_paired``)."""
    candidate_pass_rate: float | None = None
    """Pass rate in the candidate (over ``n_pass_paired``)."""
    pass_rate_delta: float | None = None
    """Candidate minus baseline pass rate."""
    pass_to_fail: int = 0
    """Samples that passed in the baseline and fail in the candidate."""
    fail_to_pass: int = 0
    """Samples that failed in the baseline and pass in the candidate."""
    p_value: float | None = None
    """McNemar's exact two-sided p-value on the flips (``None`` without pass/fail)."""
    significant: bool = False
    """Whether the change is beyond noise at the comparison's alpha."""
    verdict: Verdict = "no_change"
    """regression, improvement or no_change."""
    regressions: list[str] = Field(default_factory=list)
    """Sample ids that went from pass to fail (or to an error)."""
    error_regressions: list[str] = Field(default_factory=list)
    """The ``regressions`` whose candidate errored or was not scored (reason "error")."""
    improvements: list[str] = Field(default_factory=list)
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

    schema_version: int = 1
    """Format version."""
    baseline: RunSide
    candidate: RunSide
    alpha: float
    """Significance level."""
    metrics: list[MetricComparison] = Field(default_factory=list)
    """One entry per metric scored in either run."""
    only_in_baseline: list[str] = Field(default_factory=list)
    """Sample ids scored in the baseline only."""
    only_in_candidate: list[str] = Field(default_factory=list)
    """Sample ids scored in the candidate only."""
    operational: list[StatDelta] = Field(default_factory=list)
    """Latency, cost, token and error deltas from the two report.json files."""
    notes: list[str] = Field(default_factory=list)
    """Things the reader should know (missing report, metrics in one run only)."""

    @property
    def regressed_metrics(self) -> list[str]:
        """Metrics with a significant regression."""
        return [m.metric for m in self.metrics if m.verdict == "regression"]

    @property
    def has_regression(self) -> bool:
        """True when any metric regressed significantly."""
        return bool(self.regressed_metrics)

    @property
    def exit_code(self) -> int:
        """1 when the candidate regressed significantly, else 0."""
        return 1 if self.has_regression else 0


class _SampleAcc:
    """Running sums for one (metric, sample) over repeats."""

    __slots__ = ("n_errors", "n_passed", "n_value", "n_verdicts", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.n_value = 0
        self.n_passed = 0
        self.n_verdicts = 0
        self.n_errors = 0

    @property
    def value(self) -> float | None:
        return self.total / self.n_value if self.n_value else None

    @property
    def errored(self) -> bool:
        """True when no repeat got a verdict (every one errored)."""
        return self.n_verdicts == 0

    @property
    def passed(self) -> bool:
        """Pass when at least half of the repeats passed; errored repeats count as fails."""
        n = self.n_verdicts + self.n_errors
        return n > 0 and self.n_passed * 2 >= n


def _scores(run: Path) -> Iterator[Score]:
    path = run / "scores.jsonl"
    if not path.is_file():
        raise ConfigError(
            f"{run}: no scores.jsonl: the run was not evaluated "
            "(run 'chatbot-tester evaluate' on it first)"
        )
    return iter_jsonl(path, Score, skip_torn_tail=True)


def _load(run: Path) -> tuple[dict[str, dict[str, _SampleAcc]], set[str]]:
    """Per metric and sample the accumulated repeats, plus every sample id with a whole-sample score."""
    seen: set[tuple[str, int, str]] = set()
    table: dict[str, dict[str, _SampleAcc]] = {}
    samples: set[str] = set()
    for score in _scores(run):
        if score.turn is not None:
            continue
        key = (score.sample_id, score.repeat, score.metric)
        if key in seen:  # de-duplicate: the first score wins (re-scoring appends)
            continue
        seen.add(key)
        samples.add(score.sample_id)
        acc = table.setdefault(score.metric, {}).setdefault(score.sample_id, _SampleAcc())
        if score.value is not None and math.isfinite(score.value):
            acc.total += score.value
            acc.n_value += 1
        if score.passed is not None:
            acc.n_verdicts += 1
            acc.n_passed += int(score.passed)
        elif score.error is not None:
            acc.n_errors += 1
    return table, samples


def _report(run: Path, notes: list[str]) -> dict[str, Any]:
    path = run / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        notes.append(f"{run.name}: no report.json; latency and cost deltas are not available")
        return {}
    except (OSError, ValueError) as exc:
        notes.append(f"{run.name}: report.json unreadable ({exc}); latency and cost deltas skipped")
        return {}
    return data if isinstance(data, dict) else {}


def _stat(report: dict[str, Any], section: str, stat: str) -> float | None:
    value = report.get(section, {}).get(stat) if isinstance(report.get(section), dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _pass_fail(table: dict[str, _SampleAcc]) -> bool:
    return any(acc.n_verdicts for acc in table.values())


def _compare_verdicts(
    result: MetricComparison,
    base: dict[str, _SampleAcc],
    cand: dict[str, _SampleAcc],
    paired: set[str],
    alpha: float,
) -> int | None:
    """Fill the pass/fail fields; an errored or unscored side is a fail. Returns the direction."""
    ids = sorted(s for s in paired if s in base or s in cand)
    if not ids:
        return None
    empty = _SampleAcc()
    pairs = [(s, base.get(s, empty), cand.get(s, empty)) for s in ids]
    result.n_pass_paired = n = len(pairs)
    result.baseline_errors = sum(1 for _, a, _ in pairs if a.errored)
    result.candidate_errors = sum(1 for _, _, b in pairs if b.errored)
    result.regressions = [s for s, a, b in pairs if a.passed and not b.passed]
    result.error_regressions = [s for s, a, b in pairs if a.passed and b.errored]
    result.improvements = [s for s, a, b in pairs if b.passed and not a.passed]
    result.pass_to_fail, result.fail_to_pass = len(result.regressions), len(result.improvements)
    result.baseline_pass_rate = sum(1 for _, a, _ in pairs if a.passed) / n
    result.candidate_pass_rate = sum(1 for _, _, b in pairs if b.passed) / n
    result.pass_rate_delta = result.candidate_pass_rate - result.baseline_pass_rate
    result.p_value = mcnemar_exact(result.pass_to_fail, result.fail_to_pass)
    if result.p_value < alpha:
        return 1 if result.fail_to_pass > result.pass_to_fail else -1
    return None


def _compare_metric(
    name: str,
    base: dict[str, _SampleAcc],
    cand: dict[str, _SampleAcc],
    paired: set[str],
    alpha: float,
    seed: int,
) -> MetricComparison:
    ids = sorted(set(base) & set(cand))
    pairs = [(s, base[s].value, cand[s].value) for s in ids]
    valued = [(s, a, b) for s, a, b in pairs if a is not None and b is not None]
    result = MetricComparison(
        metric=name,
        n_paired=len(valued),
        only_baseline=len(set(base) - set(cand)),
        only_candidate=len(set(cand) - set(base)),
    )
    binary = True
    if valued:
        xs = [a for _, a, _ in valued]
        ys = [b for _, _, b in valued]
        binary = all(v in (0.0, 1.0) for v in (*xs, *ys))
        delta, low, high = paired_bootstrap_diff(xs, ys, confidence=1 - alpha, seed=seed)
        result.baseline_mean = sum(xs) / len(xs)
        result.candidate_mean = sum(ys) / len(ys)
        result.delta, result.delta_ci_low, result.delta_ci_high = delta, _finite(low), _finite(high)
    directions: set[int] = set()
    verdicts = bool(base) and bool(cand) and (_pass_fail(base) or _pass_fail(cand))
    if verdicts:
        direction = _compare_verdicts(result, base, cand, paired, alpha)
        if direction is not None:
            directions.add(direction)
    use_ci = not (binary and result.n_pass_paired)
    ci_low, ci_high = result.delta_ci_low, result.delta_ci_high
    if use_ci and ci_low is not None and ci_high is not None and result.n_paired >= 2:
        if ci_low > 0:
            directions.add(1)
        elif ci_high < 0:
            directions.add(-1)
    result.significant = bool(directions)
    if -1 in directions:
        result.verdict = "regression"
    elif 1 in directions:
        result.verdict = "improvement"
    return result


def compare_runs(
    baseline: Path, candidate: Path, *, alpha: float = 0.05, seed: int = 0
) -> Comparison:
    """Compare two evaluated run directories (each with scores.jsonl, ideally report.json)."""
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    baseline, candidate = Path(baseline), Path(candidate)
    base_table, base_samples = _load(baseline)
    cand_table, cand_samples = _load(candidate)
    paired = base_samples & cand_samples
    if not paired:
        raise ConfigError(
            f"runs {baseline.name} and {candidate.name} share no sample ids; nothing to compare"
        )
    notes: list[str] = []
    metrics: list[MetricComparison] = []
    for name in sorted(set(base_table) | set(cand_table)):
        if name not in cand_table:
            notes.append(f"metric '{name}' is scored in the baseline only")
        elif name not in base_table:
            notes.append(f"metric '{name}' is scored in the candidate only")
        metrics.append(
            _compare_metric(
                name, base_table.get(name, {}), cand_table.get(name, {}), paired, alpha, seed
            )
        )
    base_report, cand_report = _report(baseline, notes), _report(candidate, notes)
    operational = []
    for section, stat in _OPERATIONAL:
        a, b = _stat(base_report, section, stat), _stat(cand_report, section, stat)
        if a is None and b is None:
            continue
        delta = b - a if a is not None and b is not None else None
        operational.append(
            StatDelta(name=f"{section}.{stat}", baseline=a, candidate=b, delta=delta)
        )
    return Comparison(
        baseline=RunSide(path=str(baseline), run_id=baseline.name, samples=len(base_samples)),
        candidate=RunSide(path=str(candidate), run_id=candidate.name, samples=len(cand_samples)),
        alpha=alpha,
        metrics=metrics,
        only_in_baseline=sorted(base_samples - cand_samples),
        only_in_candidate=sorted(cand_samples - base_samples),
        operational=operational,
        notes=notes,
    )


def write_comparison(
    comparison: Comparison, out_dir: Path, *, step_summary: bool = True
) -> dict[str, Path]:
    """Write compare.md, compare.html and compare.json atomically into ``out_dir``.

    With ``step_summary`` and ``$GITHUB_STEP_SUMMARY`` set, the Markdown is appended there too
    (an unwritable summary file is a logged warning, not an error).
    Returns report key (``compare_md``, ``compare_html``, ``compare_json``) -> path.
    """
    from chatbot_tester.common.artifacts.storage import atomic_write_text
    from chatbot_tester.evaluator.reports import append_step_summary
    from chatbot_tester.evaluator.reports.compare_html import render_html
    from chatbot_tester.evaluator.reports.compare_md import render_markdown

    markdown = render_markdown(comparison)
    texts = {
        "compare_md": markdown,
        "compare_html": render_html(comparison),
        "compare_json": comparison.model_dump_json(indent=2) + "\n",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, text in texts.items():
        path = out_dir / COMPARE_FILES[key]
        atomic_write_text(path, text)
        paths[key] = path
    if step_summary:
        append_step_summary(markdown)
    return paths
