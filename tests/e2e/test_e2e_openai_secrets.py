"""The pipeline against the loopback OpenAI-compatible server; the API key never leaks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import run_cli

from chatbot_tester.testing.server import FaultPlan, FaultServer

KEY = "sk-e2e-0123456789abcdefSECRET"
WRONG = "sk-e2e-wrongwrongwrong987654"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(
        FaultPlan(rate=0.2, modes=("429", "500"), seed=7), api_key=KEY
    ).run_in_thread() as srv:
        yield srv


def _project(tmp_path: Path, base_url: str) -> Path:
    rows = [
        {"id": f"q{i}", "input": f"question number {i}", "expected": f"echo: question number {i}"}
        for i in range(25)
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "pipeline.yaml").write_text(
        f"""name: openai_loopback
workspace: ./ws
generator: {{source: data.jsonl}}
runner:
  backend: openai
  model: fault-model
  options:
    base_url: "{base_url}"
    api_key: "${{CT_E2E_KEY}}"
  concurrency: 4
  retries: 6
  backoff: {{initial_s: 0.01, max_s: 0.05}}
  stream: true
evaluator:
  metrics: [{{type: exact_match}}]
  thresholds: ["exact_match.pass_rate >= 1.0"]
""",
        encoding="utf-8",
    )
    return tmp_path


def _all_text(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()
    )


def test_openai_pipeline_over_loopback_with_faults(tmp_path: Path, server: FaultServer) -> None:
    project = _project(tmp_path, server.base_url)
    res = run_cli("run", "pipeline.yaml", cwd=project, env={"CT_E2E_KEY": KEY})
    assert res.code == 0, res.stderr
    run_dir = Path(res.last_line)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["metrics"]["exact_match"]["pass_rate"] == 1.0
    assert report["ttft"]["count"] == 25  # streamed: time to first token recorded
    assert "time to first token ms: p50" in res.stderr
    assert server.stats.faults, "the plan injected no fault; the test proves nothing"
    snapshot = (run_dir / "pipeline.yaml").read_text()
    assert "${CT_E2E_KEY}" in snapshot
    assert KEY not in _all_text(project)
    assert KEY not in res.stderr + res.stdout


def test_wrong_key_fails_fast_with_one_line_and_no_leak(
    tmp_path: Path, server: FaultServer
) -> None:
    project = _project(tmp_path, server.base_url)
    res = run_cli("run", "pipeline.yaml", cwd=project, env={"CT_E2E_KEY": WRONG})
    assert res.code == 2, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "auth" in lines[0].lower(), res.stderr
    assert WRONG not in res.stderr + res.stdout
    assert WRONG not in _all_text(project)
    # Fail fast: far fewer requests than samples reached the server.
    assert server.stats.requests < 25
