"""Aggregation of records and scores into the ``report.json`` model (``EvalReport``).

Fed one record and one score at a time (streaming). Memory: per metric the values are kept
exactly, in a compact float array (8 bytes a value, for the bootstrap CI; no reservoir, so
the statistics do not depend on N), and latency/TTFT likewise (exact percentiles); per tag
only sums and counters; nothing else per sample except the per-sample repeat counters of a
run with ``repeat: k``. ``build`` computes
means with 95% bootstrap CIs, pass rates with Wilson intervals, latency/TTFT percentiles,
token and cost totals. Pass rates count scores that errored against the metric
(``passed / (passed + failed + errors)``), so timeouts cannot make a suite look better.

With ``repeat: k`` (k > 1) the repeats of a sample are not independent observations: each
metric is first aggregated per sample (value = mean over its repeats; pass = the share of its
repeats that passed, an errored repeat counting as not passed, so no tie rule; a sample whose
repeats all errored is an error), and the mean, CI, pass rate (the mean of the shares) and
Wilson interval are computed over samples (n = samples). ``passed`` then counts samples whose
every repeat passed and ``failed`` the other samples with a verdict, while ``scored``,
``total`` and ``errors`` still count scores. Nondeterminism is reported per metric as
``flaky`` (samples whose repeats disagree on pass, an errored repeat counting as not passed)
and ``flip_rate`` (flaky / samples with at least two repeats); ``unstable`` counts samples
(with a judge whose votes disagreed in some repeat), not scores.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from chatbot_tester.common.schemas import RunRecord, Score
from chatbot_tester.evaluator.report_model import (
    REPORT_SCHEMA_VERSION,
    CostTotals,
    Distribution,
    EvalReport,
    MetricStats,
    TokenTotals,
    Totals,
)

__all__ = ["REPORT_SCHEMA_VERSION", "Accumulator", "SummaryBuilder", "add_to", "metric_stats"]


def _floats() -> array[float]:
    return array("d")


class _Reps:
    """The repeats of one sample on one metric (for ``repeat: k``)."""

    __slots__ = ("errors", "failed", "passed", "value_n", "value_sum")

    def __init__(self) -> None:
        self.value_sum = 0.0
        self.value_n = 0
        self.passed = 0
        self.failed = 0
        self.errors = 0


@dataclass
class Accumulator:
    """Counters of one metric (optionally keeping every value for the CI)."""

    keep_values: bool = True
    values: array[float] = field(default_factory=_floats)
    value_sum: float = 0.0
    value_n: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    unstable: int = 0
    scored: int = 0
    total: int = 0
    pass_errors: int | None = None
    """Errors counted against the pass rate (samples with repeats; else ``errors``)."""
    reps: dict[tuple[str, int | None], _Reps] | None = None
    """Per-sample repeats, when the run has ``repeat: k`` with k > 1."""
    flaky: int | None = None
    multi: int = 0
    pass_share: float | None = None
    """Sum over samples of the share of passing repeats (with repeats; else ``None``)."""
    unstable_keys: set[tuple[str, int | None]] = field(default_factory=set)

    def add(self, score: Score, *, by_sample: bool = False) -> None:
        """Count one score (into its sample's repeats when ``by_sample``)."""
        details = score.details
        if details and details.get("unstable"):
            key = (score.sample_id, score.turn)
            if key not in self.unstable_keys:
                self.unstable_keys.add(key)
                self.unstable += 1
        if by_sample:
            self._add_repeat(score)
            return
        if score.error is not None:
            self.errors += 1
            return
        self.scored += 1
        value = score.value
        if value is not None and math.isfinite(value):
            self.value_sum += value
            self.value_n += 1
            if self.keep_values:
                self.values.append(value)
        passed = score.passed
        if passed is True:
            self.passed += 1
        elif passed is False:
            self.failed += 1

    def _add_repeat(self, score: Score) -> None:
        if self.reps is None:
            self.reps = {}
        key = (score.sample_id, score.turn)
        reps = self.reps.get(key)
        if reps is None:
            reps = self.reps[key] = _Reps()
        if score.error is not None:
            self.errors += 1
            reps.errors += 1
            return
        self.scored += 1
        if score.value is not None and math.isfinite(score.value):
            reps.value_sum += score.value
            reps.value_n += 1
        if score.passed is True:
            reps.passed += 1
        elif score.passed is False:
            reps.failed += 1

    def fold(self) -> None:
        """Turn per-sample repeats into one observation per sample (idempotent)."""
        if self.reps is None or self.pass_errors is not None:
            return
        verdicts = any(r.passed or r.failed for r in self.reps.values())
        flaky = 0
        self.pass_errors = 0
        self.pass_share = 0.0
        for reps in self.reps.values():
            if reps.value_n:
                mean = reps.value_sum / reps.value_n
                self.value_sum += mean
                self.value_n += 1
                if self.keep_values:
                    self.values.append(mean)
            n = reps.passed + reps.failed + reps.errors
            if n >= 2:
                self.multi += 1
                flaky += 0 < reps.passed < n
            if not verdicts:
                continue
            if reps.passed + reps.failed == 0:
                self.pass_errors += 1
                continue
            self.pass_share += reps.passed / n
            if reps.passed == n:
                self.passed += 1
            else:
                self.failed += 1
        self.flaky = flaky if verdicts else None


def add_to(accs: Sequence[Accumulator], score: Score, *, by_sample: bool = False) -> None:
    """``acc.add(score, by_sample=...)`` for every one of ``accs``, the score's fields read once.

    One score lands in its metric's accumulator and in one per tag of its sample.
    """
    details = score.details
    if by_sample or (details and details.get("unstable")):
        for acc in accs:
            acc.add(score, by_sample=by_sample)
        return
    if score.error is not None:
        for acc in accs:
            acc.errors += 1
        return
    value = score.value
    passed = score.passed
    if value is not None and math.isfinite(value):
        for acc in accs:
            acc.scored += 1
            acc.value_sum += value
            acc.value_n += 1
            if acc.keep_values:
                acc.values.append(value)
    else:
        for acc in accs:
            acc.scored += 1
    if passed is True:
        for acc in accs:
            acc.passed += 1
    elif passed is False:
        for acc in accs:
            acc.failed += 1


_CI_TAGS = ("pack:", "strategy:")
"""Tag blocks that get intervals too: red-team packs and strategies (attack success = 1 - pass)."""


def _n_boot(n: int) -> int:
    """Bootstrap resamples: 2000 up to 10k values, fewer beyond (the interval is narrow there)."""
    return 2000 if n <= 10_000 else max(200, 20_000_000 // n)


def _pass_errors(acc: Accumulator) -> int:
    return acc.errors if acc.pass_errors is None else acc.pass_errors


def _pass_rate(acc: Accumulator) -> float | None:
    if acc.passed + acc.failed == 0:
        return None
    passed = acc.passed if acc.pass_share is None else acc.pass_share
    return passed / (acc.passed + acc.failed + _pass_errors(acc))


def metric_stats(acc: Accumulator, *, intervals: bool = True) -> dict[str, Any]:
    """The per-metric block of report.json (repeats folded per sample first, when any)."""
    from chatbot_tester.evaluator import stats

    acc.fold()
    scored = acc.scored
    out: dict[str, Any] = {"mean": acc.value_sum / acc.value_n if acc.value_n else None}
    if intervals:
        lo = hi = None
        if acc.values:
            _, lo, hi = stats.bounded_mean_ci(acc.values, n_boot=_n_boot(len(acc.values)))
        out["ci_low"], out["ci_high"] = lo, hi
    rate = _pass_rate(acc)
    out["pass_rate"] = rate
    if intervals:
        plo = phi = None
        if rate is not None:
            n = acc.passed + acc.failed + _pass_errors(acc)
            wins = acc.passed if acc.pass_share is None else acc.pass_share
            plo, phi = stats.wilson_interval(wins, n)
        out["pass_ci_low"], out["pass_ci_high"] = plo, phi
    out.update(
        passed=acc.passed,
        failed=acc.failed,
        scored=scored,
        total=max(acc.total, scored + acc.errors),
        errors=acc.errors,
        unstable=acc.unstable,
    )
    if acc.reps is not None:
        out["samples"] = len(acc.reps)
        out["flaky"] = acc.flaky
        out["flip_rate"] = acc.flaky / acc.multi if acc.flaky is not None and acc.multi else None
    return out


def _distribution(values: Sequence[float]) -> Distribution:
    if not values:
        return Distribution(mean=None, p50=None, p95=None, p99=None, count=0)
    from chatbot_tester.evaluator import stats

    p50, p95, p99 = stats.percentiles(values, (50, 95, 99))
    return Distribution(
        mean=sum(values) / len(values), p50=p50, p95=p95, p99=p99, count=len(values)
    )


def _stats(acc: Accumulator, *, intervals: bool = True, repeats: bool = True) -> MetricStats:
    """``metric_stats`` as the model; the repeat keys only when the run has repeats."""
    out = metric_stats(acc, intervals=intervals)
    if not repeats:
        for key in ("samples", "flaky", "flip_rate"):
            out.pop(key, None)
    return MetricStats(**out)


class SummaryBuilder:
    """Streams records and scores in; ``build`` returns the ``EvalReport``.

    ``by_sample`` says up front whether scores are folded per sample (a run with repeats);
    when ``None`` it follows the records seen so far (then every record must be added before
    its scores).
    """

    def __init__(self, metric_labels: Iterable[str] = ()) -> None:
        self._order = list(metric_labels)
        self.samples = 0
        self.missing = 0
        self.records = 0
        self.repeats = 1
        """Most repeats of a sample seen in the records (``repeat: k``)."""
        self.ok = 0
        self.errors_by_kind: Counter[str] = Counter()
        self.by_sample: bool | None = None
        self.latency: array[float] = _floats()
        self.ttft: array[float] = _floats()
        self.tokens = {"prompt": 0, "completion": 0, "total": 0}
        self.usage_seen = False
        self.tokens_estimated = False
        self.cost_total = 0.0
        self.cost_known = 0
        self.cost_unknown = 0
        self.metrics: dict[str, Accumulator] = {}
        self.turn_metrics: dict[str, Accumulator] = {}
        self.tags: dict[str, dict[str, Accumulator]] = {}

    def add_record(self, record: RunRecord) -> None:
        """Count one (de-duplicated) run record."""
        self.records += 1
        if record.repeat >= self.repeats:
            self.repeats = record.repeat + 1
        if record.ok:
            self.ok += 1
            if record.latency_ms is not None:
                self.latency.append(record.latency_ms)
            if record.ttft_ms is not None:
                self.ttft.append(record.ttft_ms)
        else:
            self.errors_by_kind[record.error.kind.value if record.error else "missing"] += 1
        usage = record.usage
        if usage is not None:
            self.usage_seen = True
            self.tokens_estimated |= usage.estimated
            prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
            self.tokens["prompt"] += prompt
            self.tokens["completion"] += completion
            self.tokens["total"] += (
                usage.total_tokens if usage.total_tokens is not None else prompt + completion
            )
        if record.cost_usd is not None:
            self.cost_known += 1
            self.cost_total += record.cost_usd
        elif record.ok or usage is not None:  # a call that got nowhere has no cost to know
            self.cost_unknown += 1

    def _acc(self, label: str, turn: int | None) -> Accumulator:
        table = self.metrics if turn is None else self.turn_metrics
        acc = table.get(label)
        if acc is None:
            acc = table[label] = Accumulator()
        return acc

    def _tag_acc(self, tag: str, label: str) -> Accumulator:
        per_tag = self.tags.setdefault(tag, {})
        acc = per_tag.get(label)
        if acc is None:
            acc = per_tag[label] = Accumulator(keep_values=False)
        return acc

    def expect(self, label: str, turn: int | None, tags: Sequence[str] = ()) -> None:
        """Count one score that should exist (for "scored n of N")."""
        self._acc(label, turn).total += 1
        if turn is None:
            for tag in tags:
                self._tag_acc(tag, label).total += 1

    def targets(
        self, label: str, turn: int | None, tags: Sequence[str] = ()
    ) -> tuple[Accumulator, ...]:
        """The accumulators a score of ``label`` (on ``turn``) lands in: the metric's, then per tag.

        ``expect`` and ``add_score`` look them up per score; a caller scoring many records
        with the same metrics and tags keeps this tuple instead (``evaluator.live``).
        """
        if turn is not None:
            return (self._acc(label, turn),)
        return (self._acc(label, turn), *(self._tag_acc(tag, label) for tag in tags))

    @property
    def folding(self) -> bool:
        """Whether scores are folded per sample now (see ``by_sample``)."""
        return self.repeats > 1 if self.by_sample is None else self.by_sample

    def add_score(self, score: Score, tags: Sequence[str] = ()) -> None:
        """Count one (de-duplicated) score (per sample when the records have repeats)."""
        by_sample = self.repeats > 1 if self.by_sample is None else self.by_sample
        self._acc(score.metric, score.turn).add(score, by_sample=by_sample)
        if score.turn is None:
            for tag in tags:
                self._tag_acc(tag, score.metric).add(score, by_sample=by_sample)

    def _ordered(self, table: dict[str, Accumulator]) -> list[str]:
        known = [m for m in self._order if m in table]
        return known + sorted(m for m in table if m not in self._order)

    def build(
        self, *, run_id: str = "", pipeline: str = "", title: str | None = None
    ) -> EvalReport:
        """The report (without gates and decision; the evaluator adds them)."""
        errors = self.records - self.ok
        reps = self.repeats > 1
        tokens = (
            TokenTotals(**self.tokens, estimated=self.tokens_estimated)
            if self.usage_seen
            else TokenTotals(
                prompt=None, completion=None, total=None, estimated=self.tokens_estimated
            )
        )
        return EvalReport(
            schema_version=REPORT_SCHEMA_VERSION,
            run_id=run_id,
            pipeline=pipeline,
            title=title or pipeline or run_id or "chatbot-tester report",
            generated_at=datetime.now(timezone.utc).isoformat(),
            totals=Totals(
                samples=self.samples,
                records=self.records,
                ok=self.ok,
                errors=errors,
                errors_by_kind=dict(sorted(self.errors_by_kind.items())),
                missing=self.missing,
                repeats=self.repeats,
                error_rate=errors / self.records if self.records else 0.0,
            ),
            metrics={m: _stats(self.metrics[m], repeats=reps) for m in self._ordered(self.metrics)},
            turn_metrics={
                m: _stats(self.turn_metrics[m], repeats=reps)
                for m in self._ordered(self.turn_metrics)
            },
            latency=_distribution(self.latency),
            ttft=_distribution(self.ttft),
            tokens=tokens,
            cost=CostTotals(
                total=self.cost_total if self.cost_known else None,
                known=self.cost_known,
                unknown=self.cost_unknown,
            ),
            tags={
                tag: {
                    m: _stats(acc, intervals=tag.startswith(_CI_TAGS), repeats=reps)
                    for m, acc in sorted(per.items())
                }
                for tag, per in sorted(self.tags.items())
            },
            gates=[],
            passed=True,
        )
