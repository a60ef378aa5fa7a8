"""repeat: k: statistics over samples (not k*n records), plus flaky samples and flip rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from chatbot_tester import run_pipeline
from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.evaluator import evaluate_run
from chatbot_tester.evaluator.metrics import MetricContext
from chatbot_tester.evaluator.stats import wilson_interval

HERE = Path(__file__).resolve().parent


def _dataset(path: Path, n: int) -> None:
    rows = [
        {"id": f"s{i:02d}", "input": f"question {i}", "expected": f"question {i}"} for i in range(n)
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def _pipeline(tmp: Path, bot: str, repeat: int) -> dict[str, Any]:
    return {
        "name": "repeats",
        "workspace": str(tmp / "ws"),
        "generator": {"source": str(tmp / "data.jsonl")},
        "runner": {
            "backend": "python",
            "options": {"function": f"stats_bots:{bot}", "search_path": str(HERE)},
            "repeat": repeat,
            "concurrency": 4,
        },
        "evaluator": {
            "metrics": [{"type": "exact_match"}],
            "report": {"formats": ["json", "md", "html"]},
        },
    }


def test_deterministic_bot_gets_the_same_interval_with_repeats(tmp_path: Path) -> None:
    """The review's case: repeat 3 must not narrow the Wilson interval (n stays the sample count)."""
    _dataset(tmp_path / "data.jsonl", 40)
    once = run_pipeline(_pipeline(tmp_path, "steady_bot", 1), progress=False)
    thrice = run_pipeline(_pipeline(tmp_path, "steady_bot", 3), progress=False)
    a, b = once.summary["metrics"]["exact_match"], thrice.summary["metrics"]["exact_match"]  # type: ignore[index]
    assert a["pass_rate"] == b["pass_rate"] == 0.5
    assert (b["pass_ci_low"], b["pass_ci_high"]) == pytest.approx(wilson_interval(20, 40))
    assert (a["pass_ci_low"], a["pass_ci_high"]) == (b["pass_ci_low"], b["pass_ci_high"])
    assert (b["passed"], b["failed"], b["samples"]) == (20, 20, 40)
    assert b["scored"] == 120 and b["total"] == 120  # operational counts stay per score
    assert (b["flaky"], b["flip_rate"]) == (0, 0.0)
    assert "flaky" not in a  # no nondeterminism measure without repeats
    assert thrice.summary["totals"]["repeats"] == 3  # type: ignore[index]


def test_bot_answering_differently_per_repeat_is_flaky(tmp_path: Path) -> None:
    _dataset(tmp_path / "data.jsonl", 10)
    result = run_pipeline(_pipeline(tmp_path, "alternating_bot", 3), progress=False)
    m = result.summary["metrics"]["exact_match"]  # type: ignore[index]
    # every sample: pass, fail, pass -> 2/3 of its repeats pass (no majority or tie rule)
    assert (m["passed"], m["failed"]) == (0, 10)
    assert m["pass_rate"] == pytest.approx(2 / 3)
    assert m["mean"] == pytest.approx(2 / 3)
    assert (m["flaky"], m["flip_rate"]) == (10, 1.0)
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["metrics"]["exact_match"]["flaky"] == 10
    md = (result.run_dir / "report.md").read_text()
    assert "flaky (flip rate)" in md and "| 10 (100.0%) |" in md
    assert "3 repeats per sample" in md


def test_errored_repeats_count_against_the_sample(tmp_path: Path) -> None:
    ds, res = tmp_path / "d.jsonl", tmp_path / "r.jsonl"
    ds.write_bytes(
        b"".join(orjson.dumps({"id": s, "input": "q", "expected": "x"}) + b"\n" for s in "abc")
    )
    ok = {"backend": "t", "response": {"text": "x"}}
    err = {"backend": "t", "error": {"kind": "timeout", "message": "slow"}}
    rows = [
        {"sample_id": "a", "repeat": 0, **ok},
        {"sample_id": "a", "repeat": 1, **ok},  # pass
        {"sample_id": "b", "repeat": 0, **ok},
        {"sample_id": "b", "repeat": 1, **err},  # 1 of 2: pass, flaky
        {"sample_id": "c", "repeat": 0, **err},
        {"sample_id": "c", "repeat": 1, **err},  # error sample
    ]
    res.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))

    async def main() -> Any:
        return await evaluate_run(
            ds,
            res,
            EvaluatorConfig.model_validate({"metrics": [{"type": "exact_match"}]}),
            tmp_path / "out",
            context=MetricContext(),
        )

    m = anyio.run(main).summary["metrics"]["exact_match"]
    # a: both repeats pass; b: 1 of 2 (a share of 0.5, not a tie-broken pass); c: all errors
    assert (m["passed"], m["failed"], m["errors"], m["samples"]) == (1, 1, 3, 3)
    assert m["pass_rate"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert (m["flaky"], m["flip_rate"]) == (1, pytest.approx(1 / 3))


def test_unstable_counts_samples_not_scores() -> None:
    from chatbot_tester.common.schemas import Score
    from chatbot_tester.evaluator.summary import Accumulator, metric_stats

    acc = Accumulator()
    for repeat in range(3):  # one sample whose judge disagreed in all three repeats
        score = Score(
            sample_id="a", repeat=repeat, metric="j", value=1.0, passed=True,
            details={"unstable": True},
        )  # fmt: skip
        acc.add(score, by_sample=True)
    acc.add(Score(sample_id="b", metric="j", value=1.0, passed=True), by_sample=True)
    assert metric_stats(acc)["unstable"] == 1
