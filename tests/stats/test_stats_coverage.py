"""Coverage of the bounded-mean interval (reports' mean CIs) at n = 50."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chatbot_tester.evaluator.stats import bounded_mean_ci, mean_ci

N = 50


def exact_coverage(p: float) -> float:
    """P(interval covers p) for 0/1 scores, summed exactly over the binomial outcomes."""
    total = 0.0
    for k in range(N + 1):
        _, low, high = bounded_mean_ci([1.0] * k + [0.0] * (N - k))
        if low <= p <= high:
            total += math.comb(N, k) * p**k * (1 - p) ** (N - k)
    return total


def simulated_coverage(p: float, trials: int = 1000) -> float:
    """Seeded simulation with graded scores in 0..1 (Beta with mean p)."""
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(trials):
        values = rng.beta(4 * p, 4 * (1 - p), N)
        _, low, high = bounded_mean_ci(list(values))
        hits += low <= p <= high
    return hits / trials


@pytest.mark.parametrize("p", [0.5, 0.9, 0.98])
def test_bounded_mean_ci_covers_at_n50(p: float) -> None:
    assert exact_coverage(p) >= 0.93
    assert simulated_coverage(p) >= 0.93


def test_all_pass_does_not_collapse_to_one_point() -> None:
    _, low, high = bounded_mean_ci([1.0] * N)
    assert high == 1.0 and low < 0.95
    # the old percentile bootstrap collapsed here, which is why it covered p = 0.98 so rarely
    assert mean_ci([1.0] * N)[1] == 1.0
    assert exact_coverage(0.98) > 0.9


def test_unbounded_values_keep_the_bootstrap() -> None:
    values = [120.0, 340.0, 90.0, 410.0]
    assert bounded_mean_ci(values, seed=3) == mean_ci(values, seed=3)


def test_bootstrap_pvalue_separates_shift_from_noise() -> None:
    from chatbot_tester.evaluator.stats import bootstrap_pvalue

    base = [0.2 + 0.6 * ((7 * i) % 11) / 10 for i in range(40)]
    shifted = [v + 0.1 for v in base]
    noisy = [v + (0.01 if i % 2 else -0.01) for i, v in enumerate(base)]
    assert bootstrap_pvalue(base, shifted) < 0.01
    assert bootstrap_pvalue(base, noisy) > 0.2
