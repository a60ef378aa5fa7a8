"""CLI listings, --version, and the openai-compatible example's dry run."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import ROOT, run_cli

from chatbot_tester import __version__


def test_version(tmp_path: Path) -> None:
    res = run_cli("--version", cwd=tmp_path)
    assert res.code == 0
    assert __version__ in res.stdout


def test_backends_lists_builtins_and_the_plugin(tmp_path: Path) -> None:
    res = run_cli("backends", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    rows = {row["name"]: row for row in json.loads(res.stdout)}
    for name in (
        "openai",
        "anthropic",
        "http",
        "python",
        "echo",
        "scripted",
        "demo",
        "fixture_upper",
    ):
        assert name in rows, name
    assert rows["fixture_upper"]["module"] == "ct_fixture_plugin"
    assert {o["name"] for o in rows["http"]["options"]} >= {"url", "body_template", "response_path"}
    text = run_cli("backends", cwd=tmp_path)
    assert text.code == 0 and "knowledge_base" in text.stdout


def test_metrics_lists_builtins_and_the_plugin(tmp_path: Path) -> None:
    res = run_cli("metrics", "--brief", cwd=tmp_path)
    assert res.code == 0, res.stderr
    for name in ("exact_match", "token_f1", "llm_judge", "pii_leak", "fixture_len"):
        assert name in res.stdout


def test_openai_compatible_example_dry_run_plans_runner_and_judge(tmp_path: Path) -> None:
    example = ROOT / "examples" / "openai-compatible"
    env = {"OPENAI_API_KEY": "sk-dry-run-not-a-real-key-000000"}
    res = run_cli("run", "pipeline.yaml", "--dry-run", cwd=example, env=env)
    assert res.code == 0, res.stderr
    assert "evaluate (judge)" in res.stdout
    assert "gpt-4o-mini" in res.stdout
    assert "sk-dry-run" not in res.stdout + res.stderr
    assert not (example / "workspace").exists()


def test_missing_env_reference_is_one_clear_line(tmp_path: Path) -> None:
    example = ROOT / "examples" / "openai-compatible"
    res = run_cli("run", "pipeline.yaml", "--dry-run", cwd=example, env={"OPENAI_API_KEY": ""})
    # An empty variable is still set; unset it explicitly through a copy of the env.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml", "--dry-run"],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "OPENAI_API_KEY" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert res.code in (0, 2)


def test_stream_on_a_backend_that_cannot_stream_warns(quickstart: Path) -> None:
    cfg = quickstart / "pipeline.yaml"
    cfg.write_text(cfg.read_text().replace("  concurrency: 8", "  concurrency: 8\n  stream: true"))
    res = run_cli("run", "pipeline.yaml", cwd=quickstart)
    assert res.code == 0, res.stderr
    assert "cannot stream" in res.stderr
