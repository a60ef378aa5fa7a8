"""Statistics for reports, gates and run comparison (numpy only, no scipy at runtime).

Every resampling function is seeded, so the same data always gives the same interval.
Empty inputs give ``nan`` (never a made-up 0); callers write ``null`` for them.

numpy is imported on first need: a report's percentiles of up to ``_PURE_MAX`` values and the
interval of 0/1 scores are computed in Python with numpy's exact arithmetic (same floats),
which spares a small run the ~50 ms numpy import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "bootstrap_pvalue",
    "bounded_mean_ci",
    "mcnemar_exact",
    "mean_ci",
    "paired_bootstrap_diff",
    "percentile",
    "wilson_interval",
]

_NAN = float("nan")
_CHUNK_CELLS = 1 << 20
"""Most resampled values drawn at once (bounds memory for large samples)."""
_PURE_MAX = 200_000
"""Most values whose percentiles are taken in Python (a sort); numpy's partition beyond."""


def _array(values: Sequence[float], what: str) -> npt.NDArray[np.float64]:
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a flat sequence of numbers")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")


def _bootstrap_means(
    data: npt.NDArray[np.float64], n_boot: int, seed: int
) -> npt.NDArray[np.float64]:
    """Means of ``n_boot`` resamples (with replacement) of ``data``, drawn in bounded chunks."""
    import numpy as np

    n = data.size
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot, dtype=np.float64)
    rows = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = data[idx].mean(axis=1)
    return out


def _percentile_interval(boot: npt.NDArray[np.float64], confidence: float) -> tuple[float, float]:
    import numpy as np

    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(boot, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def mean_ci(
    values: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean with a percentile-bootstrap confidence interval: ``(mean, low, high)``.

    One value gives a zero-width interval; no values give ``(nan, nan, nan)``.
    """
    import numpy as np

    _check_confidence(confidence)
    data = _array(values, "values")
    if data.size == 0:
        return (_NAN, _NAN, _NAN)
    mean = float(data.mean())
    if data.size == 1 or bool(np.all(data == data[0])):
        return (mean, mean, mean)
    low, high = _percentile_interval(_bootstrap_means(data, n_boot, seed), confidence)
    return (mean, low, high)


def bounded_mean_ci(
    values: Sequence[float], *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean with a CI that does not collapse at the edges of 0..1: ``(mean, low, high)``.

    Scores within [0, 1] get the Agresti-Coull interval of their mean (n = the number of
    values): Wilson's centre with the Wald width there, so all-pass samples still get an
    interval below 1 and the coverage stays >= 93% at n = 50 even at p = 0.98 (plain Wilson
    dips to 92% there). Values outside 0..1 get the percentile bootstrap of ``mean_ci``.
    """
    _check_confidence(confidence)
    ones = _count_binary(values)
    if ones is not None:  # 0/1 scores: the sum is exact, so this is numpy's mean bit for bit
        n, mean = len(values), ones / len(values)
    else:
        import numpy as np

        data = _array(values, "values")
        if data.size == 0 or bool(np.any((data < 0.0) | (data > 1.0))):
            return mean_ci(values, confidence=confidence, n_boot=n_boot, seed=seed)
        n, mean = data.size, float(data.mean())
    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    n_tilde = n + z * z
    centre = (n * mean + z * z / 2.0) / n_tilde
    half = z * math.sqrt(centre * (1.0 - centre) / n_tilde)
    return (mean, max(0.0, min(mean, centre - half)), min(1.0, max(mean, centre + half)))


def _count_binary(values: Sequence[float]) -> int | None:
    """How many of ``values`` are 1 when every one is 0 or 1 (and there is one); else None."""
    if not values:
        return None
    ones = 0
    for v in values:
        if v == 1.0:
            ones += 1
        elif v != 0.0:
            return None
    return ones


def wilson_interval(successes: float, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a pass rate; ``(nan, nan)`` when ``n`` is 0.

    ``successes`` may be fractional (a sum of shares of passing repeats).
    Unlike the normal approximation it stays inside 0..1 and behaves at 0% and 100%.
    """
    _check_confidence(confidence)
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (_NAN, _NAN)
    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation (numpy's default); nan if empty."""
    return percentiles(values, (q,))[0]


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """``percentile(values, q)`` for each of ``qs``, sorting or partitioning the data once.

    Up to ``_PURE_MAX`` finite values are sorted in Python and interpolated with numpy's own
    formula (``(n - 1) * q / 100``, then its two-sided lerp), so the floats are numpy's.
    """
    for q in qs:
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile q must be within 0..100, got {q}")
    if len(values) > _PURE_MAX:
        import numpy as np

        data = _array(values, "values")
        if data.size == 0:
            return [_NAN for _ in qs]
        return [float(v) for v in np.percentile(data, list(qs))]
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return [_NAN for _ in qs]
    if any(v != v for v in ordered):
        return [_NAN for _ in qs]  # numpy: a nan anywhere makes every percentile nan
    return [_lerp_at(ordered, q) for q in qs]


def _lerp_at(ordered: list[float], q: float) -> float:
    """The value of numpy's ``linear`` method at ``q`` (0..100) over sorted non-nan values."""
    index = (len(ordered) - 1) * (q / 100.0)
    low = math.floor(index)
    if index >= len(ordered) - 1:
        low = -1  # numpy's lower index at the top: both ends are the last value
    below, above = ordered[low], ordered[low + 1] if low >= 0 else ordered[-1]
    t = index - low
    diff = above - below
    return above - diff * (1.0 - t) if t >= 0.5 else below + diff * t


def _paired_diffs(a: Sequence[float], b: Sequence[float]) -> npt.NDArray[np.float64]:
    xa, xb = _array(a, "a"), _array(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"paired samples need equal lengths, got {xa.size} and {xb.size}")
    return xb - xa


def paired_bootstrap_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean paired difference ``b - a`` (e.g. candidate minus baseline) with a bootstrap CI.

    Pairs are resampled together, so per-sample difficulty cancels out. Returns
    ``(diff, low, high)``; empty input gives nans.
    """
    import numpy as np

    _check_confidence(confidence)
    diffs = _paired_diffs(a, b)
    if diffs.size == 0:
        return (_NAN, _NAN, _NAN)
    mean = float(diffs.mean())
    if diffs.size == 1 or bool(np.all(diffs == diffs[0])):
        return (mean, mean, mean)
    low, high = _percentile_interval(_bootstrap_means(diffs, n_boot, seed), confidence)
    return (mean, low, high)


def bootstrap_pvalue(
    a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, seed: int = 0
) -> float:
    """Two-sided paired-bootstrap p-value for "the mean of ``b - a`` is 0" (compare's mean test).

    The differences are centred (the null made true) and resampled; the p-value is the share
    of resampled means at least as far from 0 as the observed one, with the +1 correction.
    """
    import numpy as np

    diffs = _paired_diffs(a, b)
    if diffs.size == 0:
        return _NAN
    observed = float(diffs.mean())
    centred = diffs - observed
    if bool(np.all(centred == 0.0)):
        return 1.0 if observed == 0.0 else 0.0
    boot = _bootstrap_means(centred, n_boot, seed)
    extreme = int(np.count_nonzero(np.abs(boot) >= abs(observed) - 1e-12))
    return (extreme + 1) / (n_boot + 1)


def paired_quantile_test(
    a: Sequence[float],
    b: Sequence[float],
    q: float,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float, float]:
    """Change of the ``q``-th percentile from ``a`` to ``b`` (paired): ``(diff, low, high, p)``.

    Pairs are resampled together (in chunks, so memory stays ~50 x n floats); the interval is
    the percentile interval of the resampled differences and the two-sided p-value is the share
    of centred resampled differences at least as far from 0 as the observed one (+1 corrected).
    """
    import numpy as np

    _check_confidence(confidence)
    xa, xb = _array(a, "a"), _array(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"paired samples need equal lengths, got {xa.size} and {xb.size}")
    if xa.size == 0:
        return (_NAN, _NAN, _NAN, _NAN)
    observed = float(np.percentile(xb, q) - np.percentile(xa, q))
    if xa.size == 1:
        return (observed, observed, observed, _NAN)
    rng = np.random.default_rng(seed)
    parts: list[npt.NDArray[np.float64]] = []
    for start in range(0, n_boot, 50):
        idx = rng.integers(0, xa.size, size=(min(50, n_boot - start), xa.size))
        parts.append(np.percentile(xb[idx], q, axis=1) - np.percentile(xa[idx], q, axis=1))
    boot = np.concatenate(parts)
    low, high = _percentile_interval(boot, confidence)
    extreme = int(np.count_nonzero(np.abs(boot - observed) >= abs(observed) - 1e-12))
    p = 1.0 if observed == 0.0 else (extreme + 1) / (n_boot + 1)
    return (observed, low, high, p)


def _binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exact for moderate n and in log space beyond."""
    if n <= 1000:
        total = sum(math.comb(n, i) for i in range(k + 1))
        return total / (1 << n)
    log_half_n = n * math.log(0.5)
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n
        for i in range(k + 1)
    ]
    top = max(logs)
    return math.exp(top) * math.fsum(math.exp(v - top) for v in logs)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts ``b`` and ``c``.

    Under "no change" each discordant pair is a fair coin flip, so the p-value is the
    two-sided binomial test of ``min(b, c)`` out of ``b + c`` at p = 1/2.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * _binom_cdf_half(min(b, c), n))
