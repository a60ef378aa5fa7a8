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
