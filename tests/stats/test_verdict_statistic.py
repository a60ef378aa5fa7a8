"""Latency compared on a chosen statistic: a tail regression the mean hides is caught on p95."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from verdict_bots import write_bot_run

from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.compare import compare_runs
from chatbot_tester.evaluator.stats import paired_quantile_test


def _latency_run(path: Path, values: np.ndarray) -> Path:
    scores = [
        Score(sample_id=f"s{i:04d}", metric="latency", value=float(v)) for i, v in enumerate(values)
    ]
    return write_bot_run(path, scores)


def _tail_pair(tmp: Path, seed: int) -> tuple[Path, Path]:
    """Same mean latency (~100 ms), but 10% of the candidate's answers take 235 ms."""
    rng = np.random.default_rng(seed)
    n = 400
    base = 100.0 + rng.normal(0.0, 1.0, n)
    slow = rng.random(n) < 0.10
    cand = np.where(slow, 235.0, 85.0) + rng.normal(0.0, 1.0, n)
    return _latency_run(tmp / f"b{seed}", base), _latency_run(tmp / f"c{seed}", cand)


def test_tail_regression_is_caught_on_p95_but_not_on_the_mean(tmp_path: Path) -> None:
    base, cand = _tail_pair(tmp_path, 1)
    by_mean = compare_runs(base, cand)
    by_p95 = compare_runs(base, cand, statistic={"latency": "p95"})
    (mean_row,) = by_mean.metrics
    (p95_row,) = by_p95.metrics
    assert mean_row.statistic == "mean" and mean_row.verdict == "no_change"
    assert by_mean.exit_code == 0
    assert p95_row.statistic == "p95" and p95_row.verdict == "regression"
    assert p95_row.delta is not None and p95_row.delta > 100
    assert by_p95.exit_code == 1


def test_p50_of_an_unchanged_bot_is_noise(tmp_path: Path) -> None:
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        base_ms = rng.uniform(200.0, 800.0, 200)
        a = _latency_run(tmp_path / f"a{seed}", base_ms + rng.normal(0, 1.0, 200))
        b = _latency_run(tmp_path / f"b{seed}", base_ms + rng.normal(0, 1.0, 200))
        flagged += compare_runs(a, b, statistic={"latency": "p50"}).exit_code
    assert flagged == 0


def test_paired_quantile_test_matches_numpy_and_its_interval_covers() -> None:
    rng = np.random.default_rng(7)
    a = rng.uniform(0, 1, 300)
    b = a + 0.2
    diff, low, high, p = paired_quantile_test(a, b, 95.0, seed=3)
    assert diff == pytest.approx(float(np.percentile(b, 95) - np.percentile(a, 95)))
    assert low <= diff <= high
    assert p < 0.01
    same = paired_quantile_test(a, a, 50.0)
    assert same[0] == 0.0 and same[3] == 1.0
