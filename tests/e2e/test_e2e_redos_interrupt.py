"""Ctrl-C stops a regex metric stuck in catastrophic backtracking at once (issue 10).

The search runs inline on the event loop with a generous budget (30 s); without the
interruptible search, asyncio's SIGINT handler could only cancel the run after the search
returned, i.e. after the budget, for every record in a row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

PIPELINE = """name: redos
workspace: ./ws
generator: {source: data.jsonl}
runner:
  backend: echo
evaluator:
  metrics: [{type: regex, pattern: "(a+)+$", timeout_s: 30}]
"""


@pytest.mark.e2e
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_signal_ends_a_backtracking_regex_search_promptly(
    tmp_path: Path, signum: int, code: int
) -> None:
    rows = [{"id": f"q{i}", "input": "a" * 30_000 + "!"} for i in range(3)]
    (tmp_path / "data.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    lines: list[str] = []
    evaluating = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            # records are scored as they are written: the first one's search starts once
            # it is recorded (or, for metrics scored after the run, when evaluate starts)
            if line.startswith(("evaluate: started", "run: 1/3 done")):
                evaluating.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert evaluating.wait(60), "".join(lines)
        time.sleep(0.5)  # well inside the first 30 s search
        sent = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=20)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    proc.stderr.close()
    assert proc.returncode == code, "".join(lines)
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
    assert "Traceback" not in "".join(lines)
    (manifest,) = (tmp_path / "ws" / "runs").glob("*/manifest.json")
    assert orjson.loads(manifest.read_bytes())["status"] == "interrupted"
