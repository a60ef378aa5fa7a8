"""Resuming an evaluation never pays twice for a score, retries metric errors, and dedups."""

from __future__ import annotations

from pathlib import Path

import orjson
from eval_helpers import CALLS, evaluate_files, read_jsonl, rec, run_eval, scores_by_key

SAMPLES = [{"id": f"s{i}", "input": "q", "expected": "x"} for i in range(10)]
RECORDS = [rec(f"s{i}", "x" if i % 2 else "y") for i in range(9)] + [rec("s9", None)]


async def test_resume_does_not_rescore(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "h8_count", "name": "r1"}]}
    first = await run_eval(tmp_path, SAMPLES, RECORDS, cfg)
    assert CALLS["r1"] == 10 and first.scored_now == 10
    before = (tmp_path / "out" / "scores.jsonl").read_bytes()
    second = await run_eval(tmp_path, None, None, cfg)
    assert CALLS["r1"] == 10  # nothing called again
    assert (second.scored_now, second.skipped) == (0, 10)
    assert (tmp_path / "out" / "scores.jsonl").read_bytes() == before
    assert second.summary["metrics"] == first.summary["metrics"]


async def test_resume_after_a_crash_scores_only_what_is_missing(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "h8_count", "name": "r2"}]}
    full = await run_eval(tmp_path, SAMPLES, RECORDS, cfg)
    path = tmp_path / "out" / "scores.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4]) + lines[4][:20])  # 4 scores kept, a torn fifth line
    resumed = await run_eval(tmp_path, None, None, cfg)
    assert CALLS["r2"] == 10 + 6
    assert resumed.scored_now == 6
    assert len(read_jsonl(path)) == 10
    assert resumed.summary["metrics"] == full.summary["metrics"]


async def test_metric_errors_are_retried_but_no_answer_is_kept(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "h8_count", "name": "r3", "fail_first": 3}]}
    first = await run_eval(tmp_path, SAMPLES, RECORDS, cfg, concurrency=1)
    assert (
        first.summary["metrics"]["r3"]["errors"] == 4
    )  # 3 judge failures + 1 record without answer
    second = await run_eval(tmp_path, None, None, cfg)
    assert CALLS["r3"] == 10 + 3  # only the 3 failures again
    scores = scores_by_key(tmp_path)
    assert len(read_jsonl(tmp_path / "out" / "scores.jsonl")) == 10
    assert scores[("s9", 0, None, "r3")]["error"] == "no answer: timeout"
    assert second.summary["metrics"]["r3"]["errors"] == 1
    assert second.summary["metrics"]["r3"]["scored"] == 9


async def test_no_resume_scores_everything_again(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "h8_count", "name": "r4"}]}
    await run_eval(tmp_path, SAMPLES, RECORDS, cfg)
    again = await run_eval(tmp_path, None, None, cfg, resume=False)
    assert CALLS["r4"] == 20 and again.scored_now == 10
    assert len(read_jsonl(tmp_path / "out" / "scores.jsonl")) == 10


async def test_aggregation_reads_scores_deduplicated(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "exact_match"}]}
    first = await run_eval(tmp_path, SAMPLES, RECORDS, cfg)
    path = tmp_path / "out" / "scores.jsonl"
    dup = dict(read_jsonl(path)[0])
    dup.update(value=0.0, passed=False)
    with path.open("ab") as fh:  # a stray duplicate (e.g. two evaluations raced)
        fh.write(orjson.dumps(dup) + b"\n")
    again = await run_eval(tmp_path, None, None, cfg)
    assert again.summary["metrics"] == first.summary["metrics"]
    assert len(read_jsonl(path)) == 10  # resume compacted the file


async def test_changed_dataset_scores_the_new_samples(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "h8_count", "name": "r5"}]}
    await run_eval(tmp_path, SAMPLES[:5], RECORDS[:5], cfg)
    ev = await run_eval(tmp_path, SAMPLES, RECORDS, cfg)
    assert CALLS["r5"] == 10
    assert ev.summary["metrics"]["r5"]["total"] == 10


async def test_scores_of_metrics_no_longer_configured_are_left_out(tmp_path: Path) -> None:
    await run_eval(tmp_path, SAMPLES, RECORDS, {"metrics": [{"type": "h8_count", "name": "stale"}]})
    ev = await evaluate_files(
        tmp_path, {"metrics": [{"type": "exact_match"}]}, ("junit", "md", "html")
    )
    assert list(ev.report.metrics) == ["exact_match"]
    paths = ev.reports
    for path in paths.values():
        assert "stale" not in path.read_text(), path
