"""An unwritable $GITHUB_STEP_SUMMARY never fails an evaluation: one warning, reports still written."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from chatbot_tester.evaluator.reports import append_step_summary


def test_append_step_summary_unwritable_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "nope" / "x.md"))
    with caplog.at_level(logging.WARNING):
        assert append_step_summary("# hi") is False
    (record,) = caplog.records
    assert record.levelname == "WARNING" and "GITHUB_STEP_SUMMARY" in record.getMessage()
    good = tmp_path / "ok.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(good))
    assert append_step_summary("# hi") is True and good.read_text() == "# hi\n"


def test_evaluate_cli_with_unwritable_step_summary_exits_0(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_bytes(
        orjson.dumps({"id": "a", "input": "q", "expected": "q"}) + b"\n"
    )
    (tmp_path / "r.jsonl").write_bytes(
        orjson.dumps({"sample_id": "a", "backend": "echo", "response": {"text": "q"}}) + b"\n"
    )
    (tmp_path / "p.yaml").write_text(
        "name: s\ngenerator: {source: d.jsonl}\nrunner: {backend: echo}\n"
        "evaluator: {metrics: [{type: exact_match}]}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatbot_tester",
            "evaluate",
            "--config",
            "p.yaml",
            "--dataset",
            "d.jsonl",
            "--results",
            "r.jsonl",
            "-o",
            "out",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": "/nonexistent/x.md"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "GITHUB_STEP_SUMMARY" in proc.stderr
    assert (tmp_path / "out" / "report.md").is_file()
