"""Exit paths of a real ``chatbot-tester run`` process: python-backend timeouts that hold."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


_BOTS = """
import asyncio
import time


def blocking(prompt):
    time.sleep(3600)
    return "never"


async def deaf(prompt):
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(3600)  # swallows the cancellation
    return "never"
"""


@pytest.mark.parametrize("function", ["bots:blocking", "bots:deaf"])
def test_python_backend_timeout_holds_and_the_process_exits(tmp_path: Path, function: str) -> None:
    (tmp_path / "bots.py").write_text(_BOTS, encoding="utf-8")
    rows = [{"id": f"s{i}", "input": "hi", "expected": "x"} for i in range(3)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "pipeline.yaml").write_text(
        f"name: stuck\nworkspace: ./ws\ngenerator: {{source: data.jsonl}}\n"
        f"runner: {{backend: python, options: {{function: '{function}'}}, timeout_s: 0.3,\n"
        "  retries: 1, backoff: {initial_s: 0.01, max_s: 0.01}, max_error_rate: 1.0}\n"
        "evaluator: {metrics: [{type: exact_match}]}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,  # a blocked exit fails here instead of hanging the suite
    )
    assert time.monotonic() - started < 60, proc.stderr  # a hang detector, not a speed claim
    assert proc.returncode in (0, 1), proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    records = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines() if x]
    assert sorted(r["sample_id"] for r in records) == ["s0", "s1", "s2"]
    for r in records:
        assert r["error"]["kind"] == "timeout", r
        assert r["attempts"] == 2, r  # the retry policy applied
