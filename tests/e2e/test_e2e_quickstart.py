"""The quickstart pipeline end to end through the real CLI, and hand-chained stages."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from e2e_helpers import run_cli

RUN_FILES = [
    "manifest.json",
    "pipeline.yaml",
    "dataset.jsonl",
    "results.jsonl",
    "scores.jsonl",
    "report.json",
    "report.html",
    "junit.xml",
    "report.md",
]


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_quickstart_run_writes_every_artifact(quickstart: Path) -> None:
    res = run_cli("run", "pipeline.yaml", cwd=quickstart)
    assert res.code == 0, res.stderr
    run_dir = Path(res.last_line)
    assert run_dir.is_dir() and run_dir.parent.name == "runs"
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name

    dataset = _lines(run_dir / "dataset.jsonl")
    results = _lines(run_dir / "results.jsonl")
    assert len(dataset) >= 30
    assert sorted(r["sample_id"] for r in results) == sorted(s["id"] for s in dataset)

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["dataset"]["hash"].startswith("sha256:")
    assert manifest["config_hash"].startswith("sha256:")
    assert manifest["versions"]["chatbot-tester"]
    assert manifest["counts"]["records"] == len(dataset)

    report = json.loads((run_dir / "report.json").read_text())
    em = report["metrics"]["exact_match"]
    # The demo bot gets most but not all answers right.
    assert 0.6 <= em["pass_rate"] < 1.0
    assert em["scored"] == len(dataset)
    assert report["totals"]["errors"] == 0
    assert report["latency"]["p95"] is not None


def test_second_run_skips_generation_and_gets_a_new_run(quickstart: Path) -> None:
    first = run_cli("run", "pipeline.yaml", cwd=quickstart)
    second = run_cli("run", "pipeline.yaml", cwd=quickstart)
    assert first.code == 0 and second.code == 0, second.stderr
    assert first.last_line != second.last_line
    assert "skipped" in second.stderr
    a = (Path(first.last_line) / "dataset.jsonl").read_bytes()
    b = (Path(second.last_line) / "dataset.jsonl").read_bytes()
    assert a == b


def test_dry_run_calls_and_writes_nothing(quickstart: Path) -> None:
    before = sorted(p.relative_to(quickstart) for p in quickstart.rglob("*"))
    res = run_cli("run", "pipeline.yaml", "--dry-run", cwd=quickstart)
    assert res.code == 0, res.stderr
    assert "samples:" in res.stdout and "demo" in res.stdout
    after = sorted(p.relative_to(quickstart) for p in quickstart.rglob("*"))
    assert before == after
    assert not (quickstart / "workspace").exists()


def test_stages_chained_by_hand_equal_run(quickstart: Path) -> None:
    full = run_cli("run", "pipeline.yaml", cwd=quickstart)
    assert full.code == 0, full.stderr
    run_dir = Path(full.last_line)

    out = quickstart / "manual"
    out.mkdir()
    gen = run_cli("generate", "pipeline.yaml", "-o", str(out / "dataset.jsonl"), cwd=quickstart)
    assert gen.code == 0, gen.stderr
    assert (out / "dataset.jsonl").read_bytes() == (run_dir / "dataset.jsonl").read_bytes()

    exe = run_cli(
        "execute",
        "pipeline.yaml",
        "--dataset",
        str(out / "dataset.jsonl"),
        "-o",
        str(out / "results.jsonl"),
        cwd=quickstart,
    )
    assert exe.code == 0, exe.stderr
    answers = {r["sample_id"]: r["response"]["text"] for r in _lines(out / "results.jsonl")}
    expected = {r["sample_id"]: r["response"]["text"] for r in _lines(run_dir / "results.jsonl")}
    assert answers == expected

    ev = run_cli(
        "evaluate",
        "--config",
        "pipeline.yaml",
        "--dataset",
        str(out / "dataset.jsonl"),
        "--results",
        str(out / "results.jsonl"),
        "-o",
        str(out / "eval"),
        cwd=quickstart,
    )
    assert ev.code == 0, ev.stderr

    def verdicts(path: Path) -> dict[tuple[str, str, object], tuple[object, object]]:
        return {
            (s["sample_id"], s["metric"], s.get("turn")): (s["value"], s["passed"])
            for s in _lines(path)
            if s["metric"] != "latency"  # latency differs between two executions
        }

    assert verdicts(out / "eval" / "scores.jsonl") == verdicts(run_dir / "scores.jsonl")
