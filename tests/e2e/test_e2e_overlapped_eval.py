"""The evaluation overlaps the run: records are scored as they land, kill -9 and resume stay exact."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from e2e_helpers import run_cli

PIPELINE = """name: overlap
workspace: ./ws
generator: {{source: data.jsonl}}
runner:
  backend: echo
  options: {{prefix: "echo: ", latency_ms: {latency}}}
  concurrency: 4
evaluator:
  metrics: [{{type: exact_match}}, {{type: contains, value: echo}}]
  report: {{formats: [json, html, junit, md]}}
"""


def _project(tmp_path: Path, n: int, latency: int) -> None:
    lines = [
        json.dumps({"id": f"s{i:03d}", "input": f"question {i}", "expected": f"echo: question {i}"})
        for i in range(n)
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.format(latency=latency), encoding="utf-8")


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.endswith(b"}")]


def _check_complete(run_dir: Path, n: int) -> None:
    records = _lines(run_dir / "results.jsonl")
    keys = [r["sample_id"] for r in records]
    assert len(keys) == len(set(keys)) == n
    scores = _lines(run_dir / "scores.jsonl")
    assert len(scores) == 2 * n  # compacted: exactly one score per (sample, metric)
    assert {(s["sample_id"], s["metric"]) for s in scores} == {
        (k, m) for k in keys for m in ("exact_match", "contains")
    }
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    for metric in ("exact_match", "contains"):
        assert report["metrics"][metric]["scored"] == n
        assert report["metrics"][metric]["passed"] == n
    junit = (run_dir / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase ") == 2 * n
    assert "s000" in (run_dir / "report.html").read_text(encoding="utf-8")


@pytest.mark.e2e
def test_records_are_scored_while_the_run_goes_on(tmp_path: Path) -> None:
    n = 40
    _project(tmp_path, n, latency=5)
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    run_dir = Path(res.last_line)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "completed" and manifest["counts"]["scores"] == 2 * n
    _check_complete(run_dir, n)
    # live scores carry the fingerprint of the record as read back: a re-evaluation reuses all
    before = (run_dir / "scores.jsonl").read_bytes()
    again = run_cli("evaluate", "--workspace", "ws", run_dir.name, cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert (run_dir / "scores.jsonl").read_bytes() == before


@pytest.mark.slow
@pytest.mark.e2e
def test_kill_9_during_an_overlapped_evaluation_then_resume(tmp_path: Path) -> None:
    n = 120
    _project(tmp_path, n, latency=40)
    runs = tmp_path / "ws" / "runs"
    rng = random.Random(7)
    run_dir: Path | None = None
    saw_overlap = False
    for round_no in range(3):
        argv = [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml"]
        if run_dir is not None:
            argv += ["--resume", run_dir.name]
        proc = subprocess.Popen(
            argv,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        start = len(_lines(run_dir / "results.jsonl")) if run_dir is not None else 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            found = sorted(runs.glob("*/results.jsonl")) if runs.exists() else []
            if found and len(_lines(found[0])) >= start + 8 + round_no * 4:
                run_dir = found[0].parent
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.1))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert run_dir is not None, "the run never wrote a record"
        records = _lines(run_dir / "results.jsonl")
        scores = _lines(run_dir / "scores.jsonl")
        if len(records) < n:
            # killed mid-run: scores were already written, and no report is half-written
            saw_overlap = saw_overlap or bool(scores)
            assert not (run_dir / "report.json").exists()
            assert not (run_dir / "junit.xml").exists()
    assert run_dir is not None
    assert saw_overlap, "no score was written before the run ended"
    res = run_cli("run", "pipeline.yaml", "--resume", run_dir.name, cwd=tmp_path, timeout=120)
    assert res.code == 0, res.stderr
    _check_complete(run_dir, n)
