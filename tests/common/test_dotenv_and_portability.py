"""`.env` beside the pipeline for ${VAR}, CI-friendly progress, and the portable run lock."""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot_tester.common import dotenv_source
from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.common.events import ItemFinished, StageFinished, StageStarted
from chatbot_tester.common.redact import clear_secrets, redact
from chatbot_tester.common.yaml_loader import load_pipeline
from chatbot_tester.errors import ConfigError, ResumeError
from chatbot_tester.orchestrator import progress

PIPELINE = """name: dotenv_case
generator: {source: raw.csv}
runner:
  backend: http
  options:
    url: "${BOT_URL}"
    headers: {Authorization: "Bearer ${BOT_TOKEN}"}
evaluator: {metrics: [{type: exact_match}]}
"""


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    dotenv_source.clear()
    yield
    dotenv_source.clear()
    clear_secrets()


def _project(tmp_path: Path, dotenv: str | None) -> Path:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "raw.csv").write_text("question,answer\nhi,hello\n")
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    return tmp_path / "pipeline.yaml"


def test_dotenv_beside_the_pipeline_feeds_references_and_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_URL", raising=False)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    dotenv = "BOT_URL=http://127.0.0.1:9/chat\nBOT_TOKEN=tok-from-dotenv-123456\n"
    path = _project(tmp_path, dotenv)
    before = sorted(p.name for p in tmp_path.iterdir())
    options = load_pipeline(path).runner.resolved_options()
    assert options["url"] == "http://127.0.0.1:9/chat"
    assert options["headers"]["Authorization"] == "Bearer tok-from-dotenv-123456"
    assert "BOT_TOKEN" not in os.environ  # read into memory, not exported
    assert (tmp_path / ".env").read_text() == dotenv
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert "tok-from-dotenv-123456" not in redact("sent tok-from-dotenv-123456")
    snapshot = str(load_pipeline(path).snapshot())
    assert "${BOT_TOKEN}" in snapshot and "tok-from-dotenv" not in snapshot


def test_an_exported_variable_wins_over_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_URL", "http://127.0.0.1:1/exported")
    monkeypatch.setenv("BOT_TOKEN", "t")
    path = _project(tmp_path, "BOT_URL=http://127.0.0.1:9/from-dotenv\n")
    assert load_pipeline(path).runner.resolved_options()["url"] == "http://127.0.0.1:1/exported"


def test_without_dotenv_a_missing_variable_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_URL", raising=False)
    monkeypatch.setenv("BOT_TOKEN", "t")
    path = _project(tmp_path, None)
    with pytest.raises(ConfigError, match=r"BOT_URL' is not set .*\.env beside the pipeline"):
        load_pipeline(path).runner.resolved_options()


def test_plain_progress_prints_a_few_lines_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = itertools.count(0.0, 1.0)  # every event one second later: 600 items in 10 minutes
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    display = progress.ProgressDisplay(stream=out)  # not a terminal: plain lines
    assert display.rich is False
    display(StageStarted("run", 600))
    for _ in range(600):
        display(ItemFinished("run", "s", ok=True))
    display(StageFinished("run", 600.0, "completed"))
    lines = [line for line in out.getvalue().splitlines() if "done" in line]
    assert 10 <= len(lines) <= 45, lines  # a few per minute, not two per second


def test_run_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    run = Workspace(tmp_path).create_run()
    with run.lock():
        assert (run.path / ".lock.pid").read_text().strip() == str(os.getpid())
        with pytest.raises(ResumeError, match="in use by another"), run.lock():
            pass
    with run.lock():  # released on exit
        pass
    import inspect

    import chatbot_tester.common.artifacts.workspace as ws_module

    assert "fcntl" not in inspect.getsource(ws_module)  # portable: no POSIX-only import


def test_the_latest_loaded_pipelines_dotenv_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_URL", raising=False)
    monkeypatch.setenv("BOT_TOKEN", "t")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _project(tmp_path / "a", "BOT_URL=http://127.0.0.1:9/a\n")
    second = _project(tmp_path / "b", "BOT_URL=http://127.0.0.1:9/b\n")
    load_pipeline(first)
    assert load_pipeline(second).runner.resolved_options()["url"].endswith("/b")
    assert load_pipeline(first).runner.resolved_options()["url"].endswith("/a")
