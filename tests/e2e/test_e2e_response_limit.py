"""Endless response bodies through the real CLI: memory stays bounded (issue 10).

Before the limit, endless 200 MB bodies pushed a run to 1,670 MiB. The server sends a 200
answer that never ends; each call stops at ``runner.max_response_bytes`` (default 10 MiB)
and is recorded as ``response_too_large`` after one attempt. The run's peak RSS (the child's
``ru_maxrss``) is compared with the same run against a server that answers normally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from chatbot_tester.testing.server import FaultPlan, FaultServer

MIB = 1024 * 1024
_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _project(tmp_path: Path, base_url: str, backend: str, stream: bool) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"s{i}", "input": f"question {i}"} for i in range(8)]
    (tmp_path / "data.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    if backend == "http":
        spec = f"  backend: http\n  model: m\n  options: {{url: {base_url}/chat/completions}}\n"
    else:
        spec = (
            f"  backend: openai\n  model: m\n  options: {{base_url: {base_url}, api_key: sk-x}}\n"
        )
    (tmp_path / "pipeline.yaml").write_text(
        f"name: big\nworkspace: ./ws\ngenerator: {{source: data.jsonl}}\nrunner:\n{spec}"
        f"  concurrency: 4\n  retries: 2\n  stream: {str(stream).lower()}\n"
        "evaluator:\n  metrics: [{type: contains, value: echo}]\n",
        encoding="utf-8",
    )
    return tmp_path


def _run(project: Path) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of one ``chatbot-tester run``."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _PEAK,
            sys.executable,
            "-m",
            "chatbot_tester",
            "run",
            "pipeline.yaml",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    code, peak_kib = out.stdout.split()[-2:]
    return int(code), int(peak_kib) * 1024


def _records(project: Path) -> list[dict]:
    (results,) = (project / "ws" / "runs").glob("*/results.jsonl")
    return [orjson.loads(line) for line in results.read_bytes().splitlines() if line]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "stream"), [("openai", False), ("openai", True), ("http", False)]
)
def test_endless_bodies_keep_memory_within_the_limits_order(
    tmp_path: Path, backend: str, stream: bool
) -> None:
    with FaultServer().run_in_thread() as good:
        code, baseline = _run(_project(tmp_path / "good", good.base_url, backend, stream))
    assert code == 0
    with FaultServer(FaultPlan(rate=1.0, modes=("endless_body",))).run_in_thread() as bad:
        project = _project(tmp_path / "bad", bad.base_url, backend, stream)
        code, peak = _run(project)
        requests = bad.stats.requests
    assert code == 1  # every sample ended in an error
    records = _records(project)
    assert len(records) == 8
    assert {r["error"]["kind"] for r in records} == {"response_too_large"}
    assert all(r["attempts"] == 1 for r in records) and requests == 8  # never retried
    grown = (peak - baseline) / MIB
    assert grown < 150, f"peak RSS {peak / MIB:.0f} MiB, {grown:.0f} MiB over the normal run"
    assert (project / "ws" / "runs").stat().st_size < 10 * MIB
