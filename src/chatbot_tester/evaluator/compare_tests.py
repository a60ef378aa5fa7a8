"""The statistics of ``compare``: one primary test per metric, margins and Holm's correction.

Per metric over the baseline's samples: a sample absent, errored or unscored in the candidate
counts as a fail (verdict metrics) or as the metric's worst value (graded ones: 0 or the
smallest observed for higher-is-better, the largest observed for lower-is-better). The primary
test is exact McNemar on the flips when the metric gives one verdict per sample, else a paired
bootstrap test of the mean difference (shares of passing repeats, or the values). A verdict
needs the adjusted p-value below alpha *and* a relative effect beyond ``min_effect``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from chatbot_tester.evaluator.compare_load import SampleAcc
from chatbot_tester.evaluator.compare_model import Direction, MetricComparison
from chatbot_tester.evaluator.stats import (
    bootstrap_pvalue,
    mcnemar_exact,
    paired_bootstrap_diff,
    paired_quantile_test,
    percentile,
)

__all__ = ["compare_metric", "decide", "holm"]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def _verdicts(
    result: MetricComparison, base: dict[str, SampleAcc], cand: dict[str, SampleAcc]
) -> bool:
    """Fill the pass/fail fields over the baseline's samples; True when all shares are 0/1."""
    empty = SampleAcc()
    ids = sorted(base)
    pairs = [(s, base[s].share, cand.get(s, empty)) for s in ids]
    n = result.n_pass_paired = len(pairs)
    result.baseline_errors = sum(1 for s in ids if base[s].errored)
    result.candidate_errors = sum(1 for _, _, b in pairs if b.errored)
    result.regressions = [s for s, a, b in pairs if b.share < a]
    result.error_regressions = [s for s, a, b in pairs if a > 0 and b.errored]
    result.improvements = [s for s, a, b in pairs if b.share > a]
    result.pass_to_fail, result.fail_to_pass = len(result.regressions), len(result.improvements)
    result.baseline_pass_rate = sum(a for _, a, _ in pairs) / n
    result.candidate_pass_rate = sum(b.share for _, _, b in pairs) / n
    result.pass_rate_delta = result.candidate_pass_rate - result.baseline_pass_rate
    shares = [a for _, a, _ in pairs] + [b.share for _, _, b in pairs]
    return all(v in (0.0, 1.0) for v in shares)


def compare_metric(
    name: str,
    base: dict[str, SampleAcc],
    cand: dict[str, SampleAcc],
    *,
    direction: Direction,
    min_effect: float,
    alpha: float,
    seed: int,
    statistic: Literal["mean", "p50", "p95"] = "mean",
) -> MetricComparison:
    """Baseline versus candidate on one metric, with its raw primary p-value (not yet decided)."""
    result = MetricComparison(
        metric=name,
        direction=direction,
        n_paired=0,
        min_effect=min_effect,
        only_baseline=len(set(base) - set(cand)),
        only_candidate=len(set(cand) - set(base)),
    )
    valued_base = {s: acc.value for s, acc in base.items() if acc.value is not None}
    observed = [v for v in valued_base.values()]
    observed += [acc.value for acc in cand.values() if acc.value is not None]
    if observed:
        worst = max(observed) if direction == "lower" else min(0.0, min(observed))
    else:
        worst = 0.0
    xs: list[float] = []
    ys: list[float] = []
    missing = 0
    for sid in sorted(valued_base):
        value = cand[sid].value if sid in cand else None
        if value is None:
            missing += 1
            value = worst
        xs.append(valued_base[sid] or 0.0)
        ys.append(value)
    has_verdicts = any(a.n_verdicts for a in base.values()) or any(
        a.n_verdicts for a in cand.values()
    )
    binary = False
    if has_verdicts and base:
        binary = _verdicts(result, base, cand)
        missing = max(missing, sum(1 for s in base if s not in cand or cand[s].errored))
    result.missing_in_candidate = missing
    result.n_paired = len(xs)
    if xs:
        delta, low, high = paired_bootstrap_diff(xs, ys, confidence=1 - alpha, seed=seed)
        result.baseline_mean = sum(xs) / len(xs)
        result.candidate_mean = sum(ys) / len(ys)
        result.delta, result.delta_ci_low, result.delta_ci_high = delta, _finite(low), _finite(high)
        if result.baseline_mean != 0:
            result.relative_delta = delta / abs(result.baseline_mean)
    if has_verdicts and binary and result.n_pass_paired:
        result.test = "mcnemar"
        result.p_value = mcnemar_exact(result.pass_to_fail, result.fail_to_pass)
    elif has_verdicts and result.n_pass_paired:
        empty = SampleAcc()
        ids = sorted(base)
        a = [base[s].share for s in ids]
        b = [cand.get(s, empty).share for s in ids]
        result.test = "paired_bootstrap"
        result.p_value = bootstrap_pvalue(a, b, seed=seed)
    elif len(xs) >= 2 and statistic != "mean":
        q = 50.0 if statistic == "p50" else 95.0
        delta, low, high, p = paired_quantile_test(xs, ys, q, confidence=1 - alpha, seed=seed)
        base_q = percentile(xs, q)
        result.statistic = statistic
        result.delta, result.delta_ci_low, result.delta_ci_high = delta, _finite(low), _finite(high)
        result.relative_delta = delta / abs(base_q) if base_q != 0 else None
        result.test = "paired_bootstrap"
        result.p_value = _finite(p)
    elif len(xs) >= 2:
        result.test = "paired_bootstrap"
        result.p_value = _finite(bootstrap_pvalue(xs, ys, seed=seed))
    return result


def _effect(m: MetricComparison) -> float | None:
    """The signed change that decides (pass-rate delta for verdicts, else the mean delta)."""
    if m.n_pass_paired and m.pass_rate_delta is not None:
        return m.pass_rate_delta
    return m.delta


def _beyond_margin(m: MetricComparison) -> bool:
    if m.min_effect <= 0:
        return True
    if m.n_pass_paired and m.pass_rate_delta is not None:
        return abs(m.pass_rate_delta) > m.min_effect
    return m.relative_delta is not None and abs(m.relative_delta) > m.min_effect


def decide(metrics: list[MetricComparison], *, alpha: float, correction: str) -> None:
    """Adjust the p-values across metrics and set ``significant`` and ``verdict`` in place."""
    tested = [m for m in metrics if m.p_value is not None]
    raw = [m.p_value for m in tested if m.p_value is not None]
    adjusted = holm(raw) if correction == "holm" else list(raw)
    for m, p in zip(tested, adjusted, strict=True):
        m.p_adjusted = p
        effect = _effect(m)
        m.significant = p < alpha and effect is not None and effect != 0 and _beyond_margin(m)
        if not m.significant or effect is None:
            m.verdict = "no_change"
            continue
        on_pass_rate = bool(m.n_pass_paired)  # a pass rate is always higher-is-better
        better = effect > 0 if m.direction == "higher" or on_pass_rate else effect < 0
        m.verdict = "improvement" if better else "regression"
