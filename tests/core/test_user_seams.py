"""Seams for users: sync subscribers, a notebook's running loop, ``python -m``, stage aliases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import chatbot_tester
from chatbot_tester import Event, RunFinished, RunStarted, run_pipeline
from chatbot_tester.cli import main as cli_main


def _pipeline(tmp_path: Path) -> dict[str, Any]:
    data = tmp_path / "data.jsonl"
    rows = [{"id": f"s{i}", "input": f"say {i}", "expected": f"say {i}"} for i in range(3)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {
        "name": "seams",
        "workspace": str(tmp_path / "ws"),
        "generator": {"source": str(data)},
        "runner": {"backend": "echo"},
        "evaluator": {"metrics": [{"type": "exact_match"}], "report": {"formats": ["json"]}},
    }


def test_sync_subscribers_see_the_runs_events(tmp_path: Path) -> None:
    seen: list[Event] = []
    result = run_pipeline(_pipeline(tmp_path), subscribers=[seen.append])
    assert result.exit_code == 0, result.problems
    kinds = [type(e) for e in seen]
    assert kinds[0] is RunStarted and RunFinished in kinds
    assert any(isinstance(e, RunStarted) and e.run_id == result.run_id for e in seen)


def test_run_pipeline_inside_a_running_loop(tmp_path: Path) -> None:
    """A notebook cell: the sync API called while an event loop is already running."""
    threads: set[str] = set()

    def note(event: Event) -> None:
        threads.add(threading.current_thread().name)

    async def cell() -> chatbot_tester.PipelineResult:
        return run_pipeline(_pipeline(tmp_path), subscribers=[note])

    result = asyncio.run(cell())
    assert result.exit_code == 0, result.problems
    assert result.summary is not None
    assert result.summary["metrics"]["exact_match"]["pass_rate"] == 1.0
    # the pipeline's own loop ran in a worker thread, not in the caller's loop
    assert threads and all(name.startswith("chatbot-tester") for name in threads)


def test_sync_and_async_entry_points_share_defaults() -> None:
    import inspect

    sync = inspect.signature(chatbot_tester.run_pipeline).parameters
    async_ = inspect.signature(chatbot_tester.run_pipeline_async).parameters
    assert list(sync) == list(async_)
    assert {n: p.default for n, p in sync.items()} == {n: p.default for n, p in async_.items()}


@pytest.mark.parametrize(
    ("alias", "target"),
    [("gen-dataset", "generate"), ("runner", "execute"), ("evaluator", "evaluate")],
)
def test_stage_aliases_resolve_to_the_stage_commands(alias: str, target: str) -> None:
    import click

    ctx = click.Context(cli_main.cli)
    assert cli_main.cli.get_command(ctx, alias) is cli_main.cli.get_command(ctx, target)


def test_help_lists_the_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    with contextlib.suppress(SystemExit):
        cli_main.main(["--help"])
    out = capsys.readouterr().out
    for shown in ("generate (gen-dataset)", "execute (runner)", "evaluate (evaluator)"):
        assert shown in out


def test_python_dash_m_cli_runs_a_pipeline(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(_pipeline(tmp_path)), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester.cli", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    runs = [p for p in (tmp_path / "ws" / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1 and (runs[0] / "results.jsonl").exists()
