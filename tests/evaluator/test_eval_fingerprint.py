"""Resume reuses a score only when metric config and scored record are unchanged (fingerprints)."""

from __future__ import annotations

from pathlib import Path

import orjson
from eval_helpers import CALLS, read_jsonl, rec, run_eval, write_jsonl

SAMPLES = [{"id": f"s{i}", "input": "q", "expected": "x"} for i in range(6)]


def _records(stamp: str, latency: float = 500.0) -> list[dict[str, object]]:
    return [
        rec(
            f"s{i}",
            "x",
            latency_ms=latency,
            attempts=1,
            started_at=f"2026-01-01T00:00:0{i}{stamp}",
            finished_at=f"2026-01-01T00:00:0{i}{stamp}",
        )
        for i in range(6)
    ]


async def test_unchanged_config_and_records_are_not_rescored(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "h8_count", "name": "f1"}]}
    await run_eval(tmp_path, SAMPLES, _records("Z"), cfg)
    again = await run_eval(tmp_path, None, None, cfg)
    assert CALLS["f1"] == 6
    assert (again.scored_now, again.skipped) == (0, 6)
    assert all(
        s["fingerprint"].startswith("sha256:")
        for s in read_jsonl(tmp_path / "out" / "scores.jsonl")
    )


async def test_changed_metric_options_are_rescored(tmp_path: Path) -> None:
    await run_eval(
        tmp_path, SAMPLES, _records("Z"), {"metrics": [{"type": "h8_count", "name": "f2"}]}
    )
    changed = {"metrics": [{"type": "h8_count", "name": "f2", "variant": 1}]}
    ev = await run_eval(tmp_path, None, None, changed)
    assert CALLS["f2"] == 12 and (ev.scored_now, ev.skipped) == (6, 0)
    path = tmp_path / "out" / "scores.jsonl"
    assert len(read_jsonl(path)) == 6  # stale lines compacted away
    await run_eval(tmp_path, None, None, changed)
    assert CALLS["f2"] == 12  # the new scores are reused from now on


async def test_changed_latency_threshold_changes_the_verdict(tmp_path: Path) -> None:
    """The review's case: max_ms 1000 -> 10 on resume must fail every 500 ms answer."""
    lenient = {"metrics": [{"type": "latency", "max_ms": 1000}]}
    first = await run_eval(tmp_path, SAMPLES, _records("Z"), lenient)
    assert first.summary["metrics"]["latency"]["pass_rate"] == 1.0
    strict = await run_eval(tmp_path, None, None, {"metrics": [{"type": "latency", "max_ms": 10}]})
    assert strict.summary["metrics"]["latency"]["pass_rate"] == 0.0
    assert strict.scored_now == 6


async def test_resent_records_are_rescored(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "latency", "max_ms": 1000}, {"type": "h8_count", "name": "f3"}]}
    await run_eval(tmp_path, SAMPLES, _records("Z", latency=500.0), cfg)
    # results.jsonl deleted and every sample sent again: new times, new latencies
    write_jsonl(tmp_path / "results.jsonl", _records(".5Z", latency=2000.0))
    ev = await run_eval(tmp_path, None, None, cfg)
    assert CALLS["f3"] == 12 and ev.skipped == 0
    assert ev.summary["metrics"]["latency"]["pass_rate"] == 0.0
    values = {
        s["sample_id"]: s["value"]
        for s in read_jsonl(tmp_path / "out" / "scores.jsonl")
        if s["metric"] == "latency"
    }
    assert values == {f"s{i}": 2000.0 for i in range(6)}


async def test_one_resent_record_rescores_only_that_record(tmp_path: Path) -> None:
    cfg = {"metrics": [{"type": "h8_count", "name": "f4"}]}
    records = _records("Z")
    await run_eval(tmp_path, SAMPLES, records, cfg)
    records[2] = {**records[2], "attempts": 2, "finished_at": "2026-01-01T00:01:00Z"}
    ev = await run_eval(tmp_path, None, records, cfg)
    assert CALLS["f4"] == 7 and (ev.scored_now, ev.skipped) == (1, 5)


async def test_reverting_the_config_rescores_again(tmp_path: Path) -> None:
    a = {"metrics": [{"type": "h8_count", "name": "f5"}]}
    b = {"metrics": [{"type": "h8_count", "name": "f5", "variant": 2}]}
    await run_eval(tmp_path, SAMPLES, _records("Z"), a)
    await run_eval(tmp_path, None, None, b)
    ev = await run_eval(tmp_path, None, None, a)
    assert CALLS["f5"] == 18 and ev.scored_now == 6


async def test_assertion_change_rescores_that_assertion_only(tmp_path: Path) -> None:
    samples = [{**s, "assertions": [{"type": "contains", "value": "x"}]} for s in SAMPLES]
    cfg = {"metrics": [{"type": "h8_count", "name": "f6"}]}
    first = await run_eval(tmp_path, samples, _records("Z"), cfg)
    assert first.summary["metrics"]["assert:contains"]["pass_rate"] == 1.0
    changed = [{**s, "assertions": [{"type": "contains", "value": "nope"}]} for s in SAMPLES]
    ev = await run_eval(tmp_path, changed, None, cfg)
    assert CALLS["f6"] == 6 and ev.scored_now == 6
    assert ev.summary["metrics"]["assert:contains"]["pass_rate"] == 0.0


async def test_scores_without_fingerprint_are_rescored(tmp_path: Path) -> None:
    """Scores written before fingerprints existed cannot prove they are current."""
    cfg = {"metrics": [{"type": "h8_count", "name": "f7"}]}
    await run_eval(tmp_path, SAMPLES, _records("Z"), cfg)
    path = tmp_path / "out" / "scores.jsonl"
    rows = read_jsonl(path)
    for row in rows:
        del row["fingerprint"]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    ev = await run_eval(tmp_path, None, None, cfg)
    assert CALLS["f7"] == 12 and ev.scored_now == 6
    assert len(read_jsonl(path)) == 6
