"""Ctrl-C then --resume through the CLI, and baseline regression verdicts in the pipeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from e2e_helpers import run_cli

from chatbot_tester import run_pipeline


def _write_dataset(path: Path, n: int) -> None:
    lines = [
        json.dumps({"id": f"s{i:03d}", "input": f"question {i}", "expected": f"echo: question {i}"})
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _records(run_dir: Path) -> list[dict]:
    return [orjson.loads(x) for x in (run_dir / "results.jsonl").read_bytes().splitlines() if x]


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_stop_signal_marks_interrupted_and_resume_completes(
    tmp_path: Path, signum: int, code: int
) -> None:
    _write_dataset(tmp_path / "data.jsonl", 60)
    (tmp_path / "pipeline.yaml").write_text(
        """name: slow_echo
workspace: ./ws
generator: {source: data.jsonl}
runner:
  backend: echo
  options: {prefix: "echo: ", latency_ms: 150}
  concurrency: 2
evaluator:
  metrics: [{type: exact_match}]
""",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    runs = tmp_path / "ws" / "runs"
    deadline = time.monotonic() + 30
    results: Path | None = None
    while time.monotonic() < deadline:
        found = list(runs.glob("*/results.jsonl")) if runs.exists() else []
        if found and found[0].stat().st_size > 0 and len(found[0].read_bytes().splitlines()) >= 6:
            results = found[0]
            break
        time.sleep(0.05)
    assert results is not None, "the run never started writing records"
    sent = time.monotonic()
    proc.send_signal(signum)
    _stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10  # a hang detector, not a speed claim
    assert proc.returncode == code, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("interrupted")]
    assert len(lines) == 1, stderr
    assert signal.Signals(signum).name in lines[0] and "--resume" in lines[0], stderr
    assert "Traceback" not in stderr
    run_dir = results.parent
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    before = (run_dir / "results.jsonl").read_bytes()
    done_before = len(before.splitlines())
    assert 0 < done_before < 60

    res = run_cli("run", "pipeline.yaml", "--resume", run_dir.name, cwd=tmp_path, timeout=120)
    assert res.code == 0, res.stderr
    assert Path(res.last_line) == run_dir
    after = (run_dir / "results.jsonl").read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1])
    keys = [(r["sample_id"], r["repeat"]) for r in _records(run_dir)]
    assert len(keys) == len(set(keys)) == 60
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "completed"


def test_resume_refuses_a_changed_backend_unless_forced(tmp_path: Path) -> None:
    _write_dataset(tmp_path / "data.jsonl", 5)
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(
        "name: p\nworkspace: ./ws\ngenerator: {source: data.jsonl}\n"
        "runner: {backend: echo, options: {prefix: 'echo: '}}\n"
        "evaluator: {metrics: [{type: exact_match}]}\n"
    )
    first = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert first.code == 0, first.stderr
    run_id = Path(first.last_line).name
    cfg.write_text(cfg.read_text().replace("'echo: '", "'other: '"))
    refused = run_cli("run", "pipeline.yaml", "--resume", run_id, cwd=tmp_path)
    assert refused.code == 2
    assert "--force" in refused.stderr and "backend" in refused.stderr
    forced = run_cli("run", "pipeline.yaml", "--resume", run_id, "--force", cwd=tmp_path)
    assert forced.code in (0, 1), forced.stderr
    assert len(_records(Path(forced.last_line))) == 5


def _bot_pipeline(tmp_path: Path, bot: str, baseline: str | None) -> dict:
    return {
        "name": "regression_check",
        "workspace": str(tmp_path / "ws"),
        "generator": {"source": str(tmp_path / "data.jsonl")},
        "runner": {"backend": "python", "options": {"function": f"e2e_helpers:{bot}"}},
        "evaluator": {
            "metrics": [{"type": "exact_match"}],
            **({"baseline": baseline} if baseline else {}),
            "report": {"formats": ["json", "md"]},
        },
    }


def test_planted_regression_fails_and_rerun_is_noise(tmp_path: Path) -> None:
    n = 40
    _write_dataset(tmp_path / "data.jsonl", n)
    good, bad = "good_bot", "worse_bot"  # worse_bot fails questions 0..14
    first = run_pipeline(_bot_pipeline(tmp_path, good, None))
    assert first.exit_code == 0, first.problems
    rerun = run_pipeline(_bot_pipeline(tmp_path, good, "latest"))
    assert rerun.exit_code == 0, rerun.problems
    assert rerun.comparison is not None
    regressed = run_pipeline(_bot_pipeline(tmp_path, bad, first.run_id))
    assert regressed.exit_code == 1
    assert any("regression" in p for p in regressed.problems)
    assert "compare_md" in regressed.reports or any("compare" in k for k in regressed.reports)


def test_execute_stopped_by_ctrl_c_says_so_once_and_resumes(tmp_path: Path) -> None:
    _write_dataset(tmp_path / "data.jsonl", 60)
    (tmp_path / "pipeline.yaml").write_text(
        """name: slow_echo
generator: {source: data.jsonl}
runner:
  backend: echo
  options: {prefix: "echo: ", latency_ms: 150}
  concurrency: 2
""",
        encoding="utf-8",
    )
    out = tmp_path / "results.jsonl"
    argv = [sys.executable, "-m", "chatbot_tester", "execute", "pipeline.yaml"]
    argv += ["--dataset", "data.jsonl", "-o", str(out)]
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None or (out.exists() and len(out.read_bytes().splitlines()) >= 6):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("interrupted")]
    assert len(lines) == 1, stderr
    assert "SIGINT" in lines[0] and "--resume" in lines[0] and str(out) in lines[0]
    assert "Traceback" not in stderr
    done = len(out.read_bytes().splitlines())
    assert 0 < done < 60

    res = run_cli("execute", "pipeline.yaml", "--dataset", "data.jsonl", "-o", str(out),
                  "--resume", cwd=tmp_path, timeout=120)  # fmt: skip
    assert res.code == 0, res.stderr
    keys = [r["sample_id"] for r in (orjson.loads(x) for x in out.read_bytes().splitlines())]
    assert len(keys) == len(set(keys)) == 60
