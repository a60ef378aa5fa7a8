"""``run --dry-run`` refuses gates naming statistics report.json will not have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PIPELINE = """name: gate_names
workspace: ./ws
generator:
  source: raw.csv
  columns: {{id: id, input: question, expected: expected_answer}}
runner:
  backend: echo
evaluator:
  metrics: [{{type: token_f1}}]
  thresholds: ['{gate}']
"""


@pytest.mark.parametrize(
    ("gate", "hint"),
    [("token_f1.passrate >= 0.5", "did you mean 'pass_rate'"), ("latency.p96 <= 100", "p95")],
)
def test_dry_run_refuses_unknown_gate_stats(tmp_path: Path, gate: str, hint: str) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.format(gate=gate), encoding="utf-8")
    (tmp_path / "raw.csv").write_text("id,question,expected_answer\nq1,Hi,Hi\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "evaluator.thresholds[0]" in lines[0] and hint in lines[0]
    assert "Traceback" not in proc.stderr


def test_dry_run_refuses_a_backend_without_its_model(tmp_path: Path) -> None:
    pipeline = PIPELINE.format(gate="token_f1.pass_rate >= 0.5").replace(
        "  backend: echo",
        "  backend: openai\n  options: {base_url: 'http://127.0.0.1:9/v1', api_key: x}",
    )
    (tmp_path / "pipeline.yaml").write_text(pipeline, encoding="utf-8")
    (tmp_path / "raw.csv").write_text("id,question,expected_answer\nq1,Hi,Hi\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "runner.model" in lines[0] and "needs a model" in lines[0]
    with_model = pipeline.replace("  backend: openai\n", "  backend: openai\n  model: m\n")
    (tmp_path / "pipeline.yaml").write_text(with_model, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
