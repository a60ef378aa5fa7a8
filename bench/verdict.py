"""Measured error rates of ``compare``'s verdict on seeded controlled bots (prints, never asserts).

Uses the bots of ``tests/stats/verdict_bots.py``: an unchanged bot re-run (three metrics),
2x faster/cheaper and 2x slower/costlier candidates, planted pass-rate drops of 0.10 at
n = 1000, an identical re-run with ~1 ms latency jitter, a crashed candidate, and the coverage
of the bounded-mean CI at n = 50. Run: ``.venv/bin/python bench/verdict.py [--pairs 200]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "stats"))
from verdict_bots import bot_scores, write_bot_run

from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.compare import compare_runs
from chatbot_tester.evaluator.stats import bounded_mean_ci


def _graded(scores: list[Score]) -> list[Score]:
    """The same scores without verdicts (a graded metric such as bleu)."""
    return [s.model_copy(update={"passed": None}) for s in scores]


def _rate(tmp: Path, name: str, trials: int, make: object) -> tuple[int, int]:
    hits = 0
    for k in range(trials):
        base, cand, kwargs = make(k)  # type: ignore[operator]
        b = write_bot_run(tmp / f"{name}{k}-b", base)
        c = write_bot_run(tmp / f"{name}{k}-c", cand)
        hits += compare_runs(b, c, **kwargs).exit_code
    return hits, trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    ops = ("exact_match", "latency", "cost")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = [
            (
                "unchanged bot, 3 metrics, Holm (exit 1 = false alarm)",
                _rate(
                    tmp,
                    "u",
                    args.pairs,
                    lambda k: (
                        bot_scores(100, run_seed=2 * k + 1, data_seed=k),
                        bot_scores(100, run_seed=2 * k + 2, data_seed=k),
                        {},
                    ),
                ),
            ),
            (
                "unchanged bot, 3 metrics, no correction",
                _rate(
                    tmp,
                    "n",
                    args.pairs,
                    lambda k: (
                        bot_scores(100, run_seed=2 * k + 1, data_seed=k),
                        bot_scores(100, run_seed=2 * k + 2, data_seed=k),
                        {"correction": "none"},
                    ),
                ),
            ),
            (
                "unchanged bot, graded token_f1 only (paired bootstrap)",
                _rate(
                    tmp,
                    "g",
                    args.pairs,
                    lambda k: (
                        _graded(
                            bot_scores(100, run_seed=2 * k + 1, data_seed=k, metrics=("token_f1",))
                        ),
                        _graded(
                            bot_scores(100, run_seed=2 * k + 2, data_seed=k, metrics=("token_f1",))
                        ),
                        {},
                    ),
                ),
            ),
            (
                "identical re-run, latency jitter ~1 ms (exit 1 = false alarm)",
                _rate(
                    tmp,
                    "j",
                    100,
                    lambda k: (
                        bot_scores(200, run_seed=10 * k, answer_seed=k, metrics=("latency",)),
                        bot_scores(200, run_seed=10 * k + 1, answer_seed=k, metrics=("latency",)),
                        {},
                    ),
                ),
            ),
            (
                "2x faster, 3x cheaper, same answers (exit 1 = wrong)",
                _rate(
                    tmp,
                    "f",
                    20,
                    lambda k: (
                        bot_scores(200, run_seed=k, data_seed=k, metrics=ops),
                        bot_scores(
                            200, run_seed=k, data_seed=k, speed=0.5, price=1 / 3, metrics=ops
                        ),
                        {},
                    ),
                ),
            ),
            (
                "2x slower, 3x costlier, same answers (exit 1 = caught)",
                _rate(
                    tmp,
                    "s",
                    20,
                    lambda k: (
                        bot_scores(200, run_seed=k, data_seed=k, metrics=ops),
                        bot_scores(200, run_seed=k, data_seed=k, speed=2.0, price=3.0, metrics=ops),
                        {},
                    ),
                ),
            ),
            (
                "pass-rate drop 0.10 at n = 1000 (exit 1 = caught)",
                _rate(
                    tmp,
                    "d",
                    100,
                    lambda k: (
                        bot_scores(1000, run_seed=2 * k + 1, data_seed=k),
                        bot_scores(1000, run_seed=2 * k + 2, data_seed=k, accuracy_drop=0.10),
                        {},
                    ),
                ),
            ),
        ]
        for label, (hits, trials) in rows:
            print(f"{label:64s} {hits:4d}/{trials:<4d} = {hits / trials:6.1%}")
    for p in (0.5, 0.9, 0.98):
        exact = 0.0
        for k in range(51):
            _, low, high = bounded_mean_ci([1.0] * k + [0.0] * (50 - k))
            if low <= p <= high:
                exact += math.comb(50, k) * p**k * (1 - p) ** (50 - k)
        rng = np.random.default_rng(11)
        sim = (
            sum(
                lo <= p <= hi
                for _, lo, hi in (
                    bounded_mean_ci(list(rng.beta(4 * p, 4 * (1 - p), 50))) for _ in range(2000)
                )
            )
            / 2000
        )
        print(
            f"mean CI coverage at n = 50, p = {p:<4}: 0/1 scores {exact:6.1%} (exact), graded {sim:6.1%}"
        )


if __name__ == "__main__":
    main()
