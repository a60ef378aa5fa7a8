"""``chatbot-tester init``: the scaffold, written in a subprocess, validates and runs offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from e2e_helpers import ROOT, run_cli

FILES = {
    "pipeline.yaml",
    "pipeline.schema.json",
    "samples.csv",
    "kb.yaml",
    ".gitignore",
    ".github/workflows/chatbot-tester.yml",
}


def _init(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "init", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _validate(pipeline: Path) -> dict[str, object]:
    text = pipeline.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first == "# yaml-language-server: $schema=pipeline.schema.json"
    schema = json.loads((pipeline.parent / "pipeline.schema.json").read_text(encoding="utf-8"))
    assert schema == json.loads((ROOT / "schema" / "pipeline.schema.json").read_text("utf-8"))
    config = yaml.safe_load(text)
    jsonschema.Draft202012Validator(schema).validate(config)
    assert isinstance(config, dict)
    return config


def test_init_yes_then_run_passes_offline(tmp_path: Path) -> None:
    proc = _init(tmp_path, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path) == FILES
    config = _validate(tmp_path / "pipeline.yaml")
    assert config["runner"] == {
        "backend": "demo",
        "model": "demo-kb-v1",
        "options": {
            "knowledge_base": "kb.yaml",
            "handoff_reply": "Let me connect you with a human agent.",
        },
        "concurrency": 4,
        "timeout_s": 30,
        "retries": 2,
    }
    assert "workspace/" in (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    workflow = yaml.safe_load((tmp_path / ".github/workflows/chatbot-tester.yml").read_text())
    steps = workflow["jobs"]["chatbot-tester"]["steps"]
    assert steps[-1]["uses"] == "chatbot-tester/chatbot-tester@v0"
    assert steps[-1]["with"] == {"pipeline": "pipeline.yaml"}
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert set(steps[-1]["with"]) <= set(action["inputs"])  # the action takes what init writes
    assert workflow["permissions"] == {"contents": "read"}

    run = run_cli("run", "pipeline.yaml", "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["passed"] is True and summary["samples"] == 4 and summary["errors"] == 0
    assert Path(summary["run_dir"]).is_relative_to(tmp_path / "workspace")


def test_init_into_a_new_directory_with_options(tmp_path: Path) -> None:
    proc = _init(
        tmp_path,
        "proj",
        "--yes",
        "--backend",
        "openai",
        "--model",
        "gpt-x",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--action",
        "me/ct@main",
    )
    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "proj"
    config = _validate(project / "pipeline.yaml")
    runner = config["runner"]
    assert isinstance(runner, dict)
    assert runner["model"] == "gpt-x"
    assert runner["options"] == {
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": "${OPENAI_API_KEY}",
    }
    workflow = (project / ".github/workflows/chatbot-tester.yml").read_text(encoding="utf-8")
    assert "uses: me/ct@main" in workflow
    assert "OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}" in workflow
    assert not (project / "kb.yaml").exists()
    # valid for the loader too (plan only: nothing is called)
    dry = run_cli("run", "pipeline.yaml", "--dry-run", cwd=project, env={"OPENAI_API_KEY": "k"})
    assert dry.code == 0, dry.stderr


@pytest.mark.parametrize("backend", ["http", "python", "scripted", "echo", "anthropic"])
def test_every_preset_scaffold_is_valid(tmp_path: Path, backend: str) -> None:
    proc = _init(tmp_path, "--yes", "--backend", backend)
    assert proc.returncode == 0, proc.stderr
    _validate(tmp_path / "pipeline.yaml")
    dry = run_cli("run", "pipeline.yaml", "--dry-run", cwd=tmp_path, env={"ANTHROPIC_API_KEY": "k"})
    assert dry.code == 0, dry.stderr


def test_python_scaffold_runs_its_bot(tmp_path: Path) -> None:
    assert _init(tmp_path, "--yes", "--backend", "python").returncode == 0
    assert (tmp_path / "bot.py").is_file()
    run = run_cli("run", "pipeline.yaml", "--json", cwd=tmp_path)
    summary = json.loads(run.stdout)
    assert summary["samples"] == 4 and summary["errors"] == 0  # the stub answers every sample
    assert run.code == 1  # ...with a handoff, so the token_f1 gate fails


def test_interactive_answers_come_from_stdin(tmp_path: Path) -> None:
    # backend (a typo first: asked again), model, base URL
    proc = _init(tmp_path, stdin="opena\nopenai\ngpt-4.1\nhttp://127.0.0.1:9/v1\n")
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stderr and "openai" in proc.stderr  # the registry's backends listed
    runner = _validate(tmp_path / "pipeline.yaml")["runner"]
    assert isinstance(runner, dict)
    assert runner["backend"] == "openai" and runner["model"] == "gpt-4.1"
    assert runner["options"]["base_url"] == "http://127.0.0.1:9/v1"


def test_interactive_defaults_give_the_demo(tmp_path: Path) -> None:
    proc = _init(tmp_path, stdin="\n\n")
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path) == FILES
    assert run_cli("run", "pipeline.yaml", "-q", cwd=tmp_path).code == 0


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "samples.csv").write_text("mine\n", encoding="utf-8")
    proc = _init(tmp_path, "--yes")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "samples.csv" in lines[0] and "--force" in lines[0]
    assert "Traceback" not in proc.stderr
    assert _files(tmp_path) == {"samples.csv"}  # nothing half-written
    assert (tmp_path / "samples.csv").read_text(encoding="utf-8") == "mine\n"

    forced = _init(tmp_path, "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "samples.csv").read_text(encoding="utf-8").startswith("id,question")


def test_unknown_backend_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    proc = _init(tmp_path, "--yes", "--backend", "opnai")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --backend: unknown backend 'opnai' (did you mean 'openai'?)"
    ]
    assert _files(tmp_path) == set()


def test_input_that_ends_early_is_a_usage_error_not_an_interrupt(tmp_path: Path) -> None:
    proc = _init(tmp_path, stdin="openai\n")  # no model, no base URL
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: init: the input ended") and "--yes" in last
    assert "interrupted" not in proc.stderr
    assert _files(tmp_path) == set()


def test_action_must_be_an_action_reference(tmp_path: Path) -> None:
    proc = _init(tmp_path, "--yes", "--action", "me/ct@main\n      run: evil")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --action: write OWNER/REPO@REF")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _files(tmp_path) == set()
