"""``chatbot-tester evaluate``: re-score a run without calling the chatbot, or chain stages by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from eval_helpers import read_jsonl, rec, write_jsonl

PIPELINE = """\
name: cli_demo
workspace: ./ws
generator:
  source: data.csv
runner:
  backend: echo
evaluator:
  metrics:
    - type: exact_match
  thresholds:
    - "exact_match.pass_rate >= 0.5"
"""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    run = tmp_path / "ws" / "runs" / "20261124T000000000Z-abcdef"
    run.mkdir(parents=True)
    (run / "pipeline.yaml").write_text(PIPELINE)
    manifest = {"run_id": run.name, "pipeline": "cli_demo", "status": "completed"}
    (run / "manifest.json").write_bytes(orjson.dumps(manifest))
    write_jsonl(
        run / "dataset.jsonl",
        [{"id": f"s{i}", "input": f"q{i}", "expected": f"a{i}"} for i in range(4)],
    )
    write_jsonl(
        run / "results.jsonl",
        [rec("s0", "a0"), rec("s1", "a1"), rec("s2", "a2"), rec("s3", "wrong")],
    )
    return tmp_path


def _run_dir(project: Path) -> Path:
    return next((project / "ws" / "runs").iterdir())


def test_rescoring_a_run_in_place_reuses_scores(project: Path) -> None:
    run = _run_dir(project)
    first = run_cli("evaluate", run.name, "--workspace", "ws", cwd=project)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == str(run)
    for name in ("scores.jsonl", "report.json", "report.html", "junit.xml", "report.md"):
        assert (run / name).is_file(), name
    assert "exact_match: mean 0.750, pass rate 75.0%, scored 4 of 4" in first.stderr
    scores = (run / "scores.jsonl").read_bytes()
    second = run_cli("evaluate", str(run), cwd=project)  # by path this time
    assert second.returncode == 0, second.stderr
    assert (run / "scores.jsonl").read_bytes() == scores
    assert not (run / "evaluations").exists()


def test_changed_metrics_go_to_a_fresh_folder(project: Path) -> None:
    run = _run_dir(project)
    assert run_cli("evaluate", run.name, "--workspace", "ws", cwd=project).returncode == 0
    before = (run / "scores.jsonl").read_bytes()
    res = run_cli(
        "evaluate",
        run.name,
        "--workspace",
        "ws",
        "--metric",
        "token_f1",
        "--format",
        "json",
        cwd=project,
    )
    assert res.returncode == 0, res.stderr
    out = Path(res.stdout.strip().splitlines()[-1])
    assert out.parent == run / "evaluations"
    assert {s["metric"] for s in read_jsonl(out / "scores.jsonl")} == {"token_f1"}
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "scores.jsonl"]
    assert (run / "scores.jsonl").read_bytes() == before  # the run's own scores are untouched


def test_failed_gate_exits_1_with_one_line_per_gate(project: Path) -> None:
    strict = project / "strict.yaml"
    strict.write_text(
        PIPELINE.replace(
            '"exact_match.pass_rate >= 0.5"',
            '"exact_match.pass_rate >= 0.9"\n    - "latency.p95 <= 1"',
        )
    )
    run = _run_dir(project)
    res = run_cli("evaluate", run.name, "--config", "strict.yaml", cwd=project)
    assert res.returncode == 1, res.stderr
    failed = [line for line in res.stderr.splitlines() if line.startswith("gate failed")]
    assert len(failed) == 2 and "exact_match.pass_rate >= 0.9" in failed[0]
    assert Path(res.stdout.strip().splitlines()[-1]).parent == run / "evaluations"


def test_hand_chained_stages(project: Path) -> None:
    run = _run_dir(project)
    out = project / "eval_out"
    res = run_cli(
        "evaluate",
        "--config",
        "pipeline.yaml",
        "--dataset",
        str(run / "dataset.jsonl"),
        "--results",
        str(run / "results.jsonl"),
        "-o",
        str(out),
        cwd=project,
    )
    assert res.returncode == 0, res.stderr
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["metrics"]["exact_match"]["pass_rate"] == 0.75
    assert report["gates"][0]["passed"] is True


def test_usage_errors_exit_2(project: Path) -> None:
    res = run_cli("evaluate", "--config", "pipeline.yaml", cwd=project)
    assert res.returncode == 2 and "give a RUN" in res.stderr
    res = run_cli("evaluate", "nope", "--workspace", "ws", cwd=project)
    assert res.returncode == 2 and "nope" in res.stderr
