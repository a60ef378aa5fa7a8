"""A run is locked while in use, and an evaluation that cannot score does not pass CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import run_cli

from chatbot_tester import run_pipeline
from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.errors import ResumeError


def test_second_holder_of_a_run_lock_is_refused(tmp_path: Path) -> None:
    run = Workspace(tmp_path).create_run()
    with run.lock(), pytest.raises(ResumeError, match="in use"), run.lock():
        pass
    with run.lock():  # released when the holder exits
        pass


def _data(tmp_path: Path) -> None:
    rows = [{"id": f"s{i}", "input": f"q {i}", "expected": f"echo: q {i}"} for i in range(4)]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_judge_that_fails_on_every_call_fails_the_run(tmp_path: Path) -> None:
    _data(tmp_path)
    config = {
        "name": "judge_down",
        "workspace": str(tmp_path / "ws"),
        "generator": {"source": str(tmp_path / "data.jsonl")},
        "runner": {"backend": "echo", "options": {"prefix": "echo: "}},
        "evaluator": {
            "metrics": [{"type": "exact_match"}, {"type": "llm_judge", "rubric": "Is it right?"}],
            "judge": {
                "backend": "scripted",
                "options": {"fail": [{"match": ".*", "error": "auth", "times": None}]},
                "retries": 0,
            },
        },
    }
    result = run_pipeline(config)
    assert result.exit_code == 1
    assert any("llm_judge" in p and "could not score" in p for p in result.problems)
    assert result.summary is not None
    assert result.summary["metrics"]["exact_match"]["pass_rate"] == 1.0


def test_resume_of_a_run_in_use_is_refused(tmp_path: Path) -> None:
    _data(tmp_path)
    (tmp_path / "pipeline.yaml").write_text(
        "name: p\nworkspace: ./ws\ngenerator: {source: data.jsonl}\n"
        "runner: {backend: echo, options: {prefix: 'echo: '}}\n"
        "evaluator: {metrics: [{type: exact_match}]}\n"
    )
    first = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert first.code == 0, first.stderr
    run_dir = Path(first.last_line)
    ws = Workspace(tmp_path / "ws")
    with ws.open_run(run_dir.name).lock():
        res = run_cli("run", "pipeline.yaml", "--resume", run_dir.name, cwd=tmp_path)
    assert res.code == 2
    assert "in use" in res.stderr
