"""The ``litellm`` backend through the CLI: LiteLLM's mock model and the loopback fault server.

No network: ``LITELLM_LOCAL_MODEL_COST_MAP`` keeps LiteLLM on the price map it ships, the
mock answers without a provider, and ``openai/<model>`` talks to the fault server on
127.0.0.1. Usage and cost come from LiteLLM's response; faults are retried, a bad key stops
the run early.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import run_cli

from chatbot_tester.testing.server import FaultPlan, FaultServer
from chatbot_tester.testing.server_payloads import word_count

QUESTIONS = ["where is my order", "do you sell tents", "when do you open", "can i get a refund"]
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
MODEL = "bedrock/moonshotai.kimi-k2.5"  # priced by LiteLLM's map, not by our table


def _project(tmp_path: Path, runner: str) -> None:
    rows = "\n".join(f"q{i},{q}" for i, q in enumerate(QUESTIONS))
    (tmp_path / "questions.csv").write_text(f"id,question\n{rows}\n")
    (tmp_path / "pipeline.yaml").write_text(
        "name: litellm_run\nworkspace: ./ws\n"
        "generator:\n  source: questions.csv\n  columns: {id: id, input: question}\n"
        f"runner:\n  backend: litellm\n{runner}"
        "evaluator:\n  metrics: [{type: latency, max_ms: 60000}]\n"
        "  report: {formats: [json]}\n"
    )


def _records(run_dir: Path) -> dict[str, dict]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return {r["sample_id"]: r for r in map(json.loads, lines)}


def _litellm_price(model: str) -> tuple[float, float]:
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.origin is not None
    data = json.loads(
        (Path(spec.origin).parent / "model_prices_and_context_window_backup.json").read_text()
    )
    entry = data[model]
    return entry["input_cost_per_token"], entry["output_cost_per_token"]


@pytest.mark.slow
@pytest.mark.parametrize("stream", ["true", "false"])
def test_mock_response_runs_end_to_end_with_usage_and_cost(tmp_path: Path, stream: str) -> None:
    _project(
        tmp_path,
        f"  model: {MODEL}\n  stream: {stream}\n  concurrency: 4\n"
        "  options: {mock_response: 'the store opens at nine'}\n",
    )
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path, env=ENV)
    assert res.code == 0, res.stderr
    run_dir = Path(res.last_line)
    records = _records(run_dir)
    assert sorted(records) == [f"q{i}" for i in range(len(QUESTIONS))]
    price_in, price_out = _litellm_price(MODEL)
    for rec in records.values():
        assert rec["error"] is None and rec["response"]["text"] == "the store opens at nine"
        usage = rec["usage"]
        assert usage["estimated"] is False and usage["completion_tokens"] > 0
        expected = usage["prompt_tokens"] * price_in + usage["completion_tokens"] * price_out
        assert rec["cost_usd"] == pytest.approx(expected, rel=1e-6)
        if stream == "true":
            assert rec["ttft_ms"] is not None and rec["ttft_ms"] <= rec["latency_ms"]
        else:
            assert rec["ttft_ms"] is None
    report = json.loads((run_dir / "report.json").read_text())
    assert report["cost"]["known"] == len(QUESTIONS) and report["cost"]["total"] > 0


def test_fault_server_faults_are_retried_and_usage_is_the_servers(tmp_path: Path) -> None:
    plan = FaultPlan(fail_first=1, modes=("429", "500", "503"), seed=3)
    with FaultServer(plan).run_in_thread() as server:
        _project(
            tmp_path,
            "  model: openai/echo-model\n  stream: true\n  concurrency: 4\n  retries: 3\n"
            "  backoff: {initial_s: 0.01, max_s: 0.05}\n"
            f"  options: {{api_base: '{server.base_url}', api_key: sk-loopback-test}}\n",
        )
        res = run_cli("run", "pipeline.yaml", cwd=tmp_path, env=ENV)
        stats = server.stats
    assert res.code == 0, res.stderr
    records = _records(Path(res.last_line))
    for i, question in enumerate(QUESTIONS):
        rec = records[f"q{i}"]
        assert rec["error"] is None
        assert rec["response"]["text"] == f"echo: {question}"
        assert rec["attempts"] == 2  # the first attempt of every conversation was a fault
        assert rec["usage"]["prompt_tokens"] == word_count(question)
        assert rec["usage"]["completion_tokens"] == word_count(f"echo: {question}")
        assert rec["ttft_ms"] is not None
    assert stats.requests == 2 * len(QUESTIONS) and stats.successes == len(QUESTIONS)
    assert "sk-loopback-test" not in (Path(res.last_line) / "results.jsonl").read_text()


@pytest.mark.slow
def test_bad_key_stops_the_run_early(tmp_path: Path) -> None:
    rows = 40
    with FaultServer(api_key="sk-right").run_in_thread() as server:
        _project(
            tmp_path,
            "  model: openai/echo-model\n  concurrency: 2\n  retries: 3\n"
            f"  options: {{api_base: '{server.base_url}', api_key: sk-wrong}}\n",
        )
        csv = "\n".join(f"q{i},question {i}" for i in range(rows))
        (tmp_path / "questions.csv").write_text(f"id,question\n{csv}\n")
        res = run_cli("run", "pipeline.yaml", cwd=tmp_path, env=ENV)
        stats = server.stats
    assert res.code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "sk-wrong" not in res.stderr
    assert stats.requests < rows  # fail-fast: not one request per sample, no retries
    assert "401" in res.stderr or "auth" in res.stderr.lower(), res.stderr


def test_missing_extra_is_one_line(tmp_path: Path) -> None:
    _project(tmp_path, "  model: openai/gpt-4o-mini\n")
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['litellm'] = None\n")
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path, env={"PYTHONPATH": str(blocker)})
    assert res.code == 2, (res.stdout, res.stderr)
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "chatbot-tester[litellm]" in lines[0], res.stderr
