"""Pipelines on a preset (`backend: ollama` with only a model), on http streaming and on a
python generator, through the real CLI against the loopback server; bad preset input exits 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import run_cli

from chatbot_tester.testing.server import FaultServer

pytestmark = pytest.mark.e2e

ROWS = 6


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer(chunk_delay_ms=5).run_in_thread() as srv:
        yield srv


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without any provider variable (a developer's own keys stay out)."""
    from chatbot_tester.common.backends.preset_table import PRESETS

    names = {n for p in PRESETS.values() for n in (p.key_env, p.base_url_env, p.host_env) if n}
    env = {name: "" for name in names}  # empty counts as unset
    env.update(extra)
    return env


def _project(tmp_path: Path, runner: str) -> Path:
    rows = [
        {"id": f"q{i}", "input": f"question {i}", "expected": f"echo: question {i}"}
        for i in range(ROWS)
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "pipeline.yaml").write_text(
        f"""name: presets_e2e
workspace: ./ws
generator: {{source: data.jsonl}}
runner:
{runner}
  concurrency: 3
  retries: 0
  stream: true
evaluator:
  metrics: [{{type: exact_match}}]
  thresholds: ["exact_match.pass_rate >= 1.0"]
""",
        encoding="utf-8",
    )
    return tmp_path


def _report(res) -> dict:
    assert res.code == 0, res.stderr
    return json.loads((Path(res.last_line) / "report.json").read_text())


def test_ollama_with_only_a_model(tmp_path: Path, server: FaultServer) -> None:
    project = _project(tmp_path, "  backend: ollama\n  model: llama3.2")
    res = run_cli(
        "run", "pipeline.yaml", cwd=project, env=_clean_env(OLLAMA_BASE_URL=server.base_url)
    )
    report = _report(res)
    assert report["metrics"]["exact_match"]["pass_rate"] == 1.0
    assert report["ttft"]["count"] == ROWS
    assert report["ttft"]["p50"] <= report["latency"]["p50"]


def test_http_sse_pipeline_records_ttft(tmp_path: Path, server: FaultServer) -> None:
    runner = f"""  backend: http
  model: m
  options:
    url: "{server.base_url}/chat/completions"
    stream: sse
    stream_done: "[DONE]\""""
    report = _report(run_cli("run", "pipeline.yaml", cwd=_project(tmp_path, runner)))
    assert report["metrics"]["exact_match"]["pass_rate"] == 1.0
    assert report["ttft"]["count"] == ROWS


def test_python_generator_pipeline_records_ttft(tmp_path: Path) -> None:
    (tmp_path / "gen_bot.py").write_text(
        "import asyncio\n\nasync def answer(prompt):\n"
        "    yield 'echo: '\n    await asyncio.sleep(0.01)\n    yield prompt\n"
    )
    runner = "  backend: python\n  options: {function: 'gen_bot:answer'}"
    report = _report(run_cli("run", "pipeline.yaml", cwd=_project(tmp_path, runner)))
    assert report["metrics"]["exact_match"]["pass_rate"] == 1.0
    assert report["ttft"]["count"] == ROWS


@pytest.mark.parametrize(
    ("runner", "env", "needle"),
    [
        ("  backend: groq\n  model: llama-3.1-8b-instant", {}, "GROQ_API_KEY"),
        (
            "  backend: ollama\n  model: m\n  options: {base_url: 'https://api.groq.com/openai/v1'}",
            {},
            "use backend: groq",
        ),
        (
            "  backend: mistral\n  model: m\n  options: {base_url: 'http://mistral.example.com/v1'}",
            {"MISTRAL_API_KEY": "sk-mistral-test-0123456789"},
            "unencrypted",
        ),
        ("  backend: ollama\n  model: m", {"OLLAMA_BASE_URL": "ollama:11434"}, "$OLLAMA_BASE_URL"),
        ("  backend: olama\n  model: m", {}, "did you mean 'ollama'"),
    ],
)
def test_bad_preset_input_is_one_line_exit_2(
    tmp_path: Path, runner: str, env: dict[str, str], needle: str
) -> None:
    project = _project(tmp_path, runner)
    res = run_cli("run", "pipeline.yaml", cwd=project, env=_clean_env(**env))
    assert res.code == 2, res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert needle in lines[0] and "Traceback" not in res.stderr
    assert "sk-mistral-test" not in res.stderr
    results = list((project / "ws").rglob("results*.jsonl")) if (project / "ws").exists() else []
    assert not any(p.stat().st_size for p in results), "a failed preset wrote results"
