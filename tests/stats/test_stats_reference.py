"""Statistics checked against scipy and statsmodels on fixed data."""

from __future__ import annotations

import math
import struct
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from chatbot_tester.evaluator.stats import (
    _PURE_MAX,
    bounded_mean_ci,
    mcnemar_exact,
    mean_ci,
    paired_bootstrap_diff,
    percentile,
    percentiles,
    wilson_interval,
)

RNG = np.random.default_rng(1234)
VALUES = RNG.normal(loc=0.7, scale=0.15, size=60).tolist()


@pytest.mark.parametrize(
    ("b", "c"),
    [
        (0, 0),
        (0, 1),
        (1, 0),
        (3, 3),
        (12, 0),
        (2, 1),
        (1, 2),
        (5, 17),
        (40, 25),
        (300, 350),
        (7, 8),
    ],
)
def test_mcnemar_exact_matches_scipy_binomtest_and_statsmodels(b: int, c: int) -> None:
    ours = mcnemar_exact(b, c)
    ref = sps.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue if b + c else 1.0
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)
    table = [[10, b], [c, 10]]
    sm = sm_mcnemar(table, exact=True).pvalue
    assert ours == pytest.approx(sm, rel=1e-9, abs=1e-15)


def test_mcnemar_large_counts_use_log_space_and_agree() -> None:
    ours = mcnemar_exact(1500, 1600)
    ref = sps.binomtest(1500, 3100, 0.5).pvalue
    assert ours == pytest.approx(ref, rel=1e-6)


def test_mcnemar_planted_regression_is_tiny() -> None:
    assert mcnemar_exact(12, 0) == pytest.approx(2 * 0.5**12)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (10, 10), (32, 40), (1, 3), (57, 100), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(k: int, n: int, confidence: float) -> None:
    low, high = wilson_interval(k, n, confidence=confidence)
    ref_low, ref_high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_rejects_bad_counts_and_handles_zero_n() -> None:
    with pytest.raises(ValueError):
        wilson_interval(5, 3)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 100, 33.3])
def test_percentile_matches_numpy(q: float) -> None:
    data = [120.0, 5.0, 33.0, 7.5, 900.0, 44.0, 12.0]
    assert percentile(data, q) == pytest.approx(float(np.percentile(data, q)))


def test_percentile_empty_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_mean_ci_close_to_scipy_percentile_bootstrap() -> None:
    mean, low, high = mean_ci(VALUES, n_boot=4000, seed=7)
    ref = sps.bootstrap(
        (np.asarray(VALUES),),
        np.mean,
        n_resamples=4000,
        method="percentile",
        confidence_level=0.95,
        random_state=np.random.default_rng(7),
    ).confidence_interval
    assert mean == pytest.approx(float(np.mean(VALUES)))
    width = ref.high - ref.low
    assert low == pytest.approx(ref.low, abs=0.1 * width)
    assert high == pytest.approx(ref.high, abs=0.1 * width)
    assert low < mean < high


def test_mean_ci_is_seeded_and_degenerate_cases() -> None:
    assert mean_ci(VALUES, seed=3) == mean_ci(VALUES, seed=3)
    assert mean_ci(VALUES, seed=3) != mean_ci(VALUES, seed=4)
    assert mean_ci([0.5]) == (0.5, 0.5, 0.5)
    assert mean_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    assert all(math.isnan(v) for v in mean_ci([]))


def test_mean_ci_large_input_is_chunked_and_sane() -> None:
    data = np.random.default_rng(0).uniform(size=20_000).tolist()
    mean, low, high = mean_ci(data, n_boot=500)
    se = float(np.std(data) / math.sqrt(len(data)))
    assert low < mean < high
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.2)


def test_paired_bootstrap_diff_close_to_scipy_on_differences() -> None:
    a = VALUES
    b = [v + 0.05 + 0.02 * math.sin(i) for i, v in enumerate(VALUES)]
    diff, low, high = paired_bootstrap_diff(a, b, n_boot=4000, seed=11)
    d = np.asarray(b) - np.asarray(a)
    ref = sps.bootstrap(
        (d,),
        np.mean,
        n_resamples=4000,
        method="percentile",
        random_state=np.random.default_rng(11),
    ).confidence_interval
    assert diff == pytest.approx(float(d.mean()))
    width = ref.high - ref.low
    assert low == pytest.approx(ref.low, abs=0.15 * width)
    assert high == pytest.approx(ref.high, abs=0.15 * width)
    assert low > 0  # a consistent +0.05 shift is detected


def test_paired_bootstrap_diff_direction_and_lengths() -> None:
    diff, _low, high = paired_bootstrap_diff([1, 1, 1, 0], [0, 0, 0, 0])
    assert diff == -0.75 and high <= 0
    with pytest.raises(ValueError):
        paired_bootstrap_diff([1.0], [1.0, 2.0])


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 100, 101, 1234])
def test_pure_python_percentiles_are_numpys_floats_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    qs = [0, 0.001, 1, 25, 33.3, 50, 66.7, 95, 99, 99.9, 100]
    for data in (
        rng.lognormal(3.0, 2.0, size=n).tolist(),
        rng.integers(0, 5, size=n).astype(float).tolist(),
        rng.choice([1.5, 1e308, -1e308, math.inf, -math.inf, 2.0], size=n).tolist(),
    ):
        with np.errstate(all="ignore"):
            ref = [float(np.percentile(data, q)) for q in qs]
        ours = percentiles(data, qs)
        assert [math.isnan(v) for v in ours] == [math.isnan(v) for v in ref]
        assert _bits([v for v in ours if not math.isnan(v)]) == _bits(
            [v for v in ref if not math.isnan(v)]
        )
    assert all(math.isnan(v) for v in percentiles([1.0, math.nan, 2.0], [0, 50]))


def test_percentiles_past_the_pure_limit_go_through_numpy() -> None:
    data = np.random.default_rng(3).exponential(50.0, size=_PURE_MAX + 1).tolist()
    assert percentiles(data, [50, 99]) == [float(v) for v in np.percentile(data, [50, 99])]


@pytest.mark.parametrize("n", [1, 2, 5, 50, 999])
def test_binary_bounded_mean_ci_is_the_numpy_result(n: int) -> None:
    rng = np.random.default_rng(n)
    for p in (0.0, 0.3, 0.97, 1.0):
        data = (rng.random(n) < p).astype(float).tolist()
        mean, low, high = bounded_mean_ci(data)
        # the Agresti-Coull formula over numpy's mean: what it gave before 0/1 scores skipped numpy
        ref_mean = float(np.mean(data))
        assert mean == ref_mean
        z = NormalDist().inv_cdf(0.975)
        n_tilde = n + z * z
        centre = (n * ref_mean + z * z / 2.0) / n_tilde
        half = z * math.sqrt(centre * (1.0 - centre) / n_tilde)
        assert (low, high) == (
            max(0.0, min(ref_mean, centre - half)),
            min(1.0, max(ref_mean, centre + half)),
        )
