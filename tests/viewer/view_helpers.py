"""A workspace of real runs and a `chatbot-tester view` server on 127.0.0.1 for the viewer tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

XSS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "javascript:alert(4)",
    "{{7*7}} ${alert(5)}",
]


def write_pipeline(root: Path, *, name: str = "shop", prefix: str = "echo: ", latency_ms: int = 0,
                   n: int = 12, workspace: str = "./ws") -> Path:  # fmt: skip
    """A pipeline on the echo backend whose dataset carries XSS payloads in ids, inputs, tags."""
    rows = []
    for i in range(n):
        payload = XSS[i % len(XSS)]
        rows.append(
            {
                "id": f"s{i:02d}" if i % 4 else f"s{i:02d}{payload}",
                "input": f"question {i} {payload}",
                "expected": f"echo: question {i} {payload}" if i % 3 else "something else",
                "tags": ["even" if i % 2 == 0 else "odd", f"t{payload}"[:40]],
            }
        )
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")
    path = root / f"{name}.yaml"
    path.write_text(
        f"""name: {name}
workspace: {workspace}
generator: {{source: data.jsonl}}
runner:
  backend: echo
  options: {{prefix: {json.dumps(prefix)}, latency_ms: {latency_ms}}}
  concurrency: 2
evaluator:
  metrics: [{{type: exact_match}}, {{type: token_f1}}]
  thresholds: ["exact_match.pass_rate >= 0.5"]
""",
        "utf-8",
    )
    return path


def run(pipeline: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``chatbot-tester run`` in a subprocess (exit 1 is a failed gate, still a run)."""
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", str(pipeline), "-q", *args],
        cwd=pipeline.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return proc


def run_ids(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "runs").iterdir() if p.is_dir())


@contextmanager
def view_server(ws: Path, *args: str) -> Iterator[str]:
    """``chatbot-tester view WS`` in a subprocess; yields its URL (without a token)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot_tester", "view", str(ws), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and not line.startswith("http"):
            line = proc.stdout.readline().strip()
            if not line and proc.poll() is not None:
                raise AssertionError(proc.stderr.read() if proc.stderr else "view exited")
        assert line.startswith("http://127.0.0.1:"), line
        yield line.split("?", 1)[0]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reaps it and closes both pipes


BOT = '''"""An echo bot that crashes, with a payload in the message, when asked to boom."""

XSS = {xss!r}


def answer(prompt: str, prefix: str = "") -> str:
    if "boom" in prompt:
        raise RuntimeError("bot crashed " + " ".join(XSS))
    return prefix + prompt
'''


def write_variants_pipeline(root: Path, *, n: int = 12) -> Path:
    """A variants pipeline with the XSS payloads in every free-text field the config allows.

    The pipeline name and description, both variant names, the metric names, regex and
    contains reasons (they quote the answer), a Python bot's error message (samples asking
    to "boom") and the sample ids, inputs and tags all carry a payload. The second variant
    answers with another prefix, so it regresses against the baseline.
    """
    (root / "xssbot.py").write_text(BOT.format(xss=XSS), "utf-8")
    rows = []
    for i in range(n):
        payload = XSS[i % len(XSS)]
        rows.append(
            {
                "id": f"v{i:02d}{payload}",
                "input": f"question {i} {payload}" + (" boom" if i == n - 1 else ""),
                "expected": f"echo: question {i} {payload}",
                "tags": [f"t{payload}"[:40]],
            }
        )
    (root / "vdata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")

    def y(value: object) -> str:  # a YAML scalar, with ${ kept literal (not an env reference)
        return json.dumps(value).replace("${", "$${")

    def opts(prefix: str) -> str:
        return y({"function": "xssbot:answer", "kwargs": {"prefix": prefix}})

    path = root / "variants.yaml"
    path.write_text(
        f"""name: {y("vs " + XSS[0])}
description: {y("about " + XSS[1])}
workspace: ./vws
generator: {{source: vdata.jsonl}}
runner:
  backend: python
  options: {opts("echo: ")}
variants:
  - {{name: {y("base " + XSS[2])}, options: {opts("echo: ")}}}
  - {{name: {y("cand " + XSS[0])}, options: {opts("nope: ")}}}
evaluator:
  metrics:
    - {{type: exact_match, name: {y("em " + XSS[1])}}}
    - {{type: regex, pattern: "<[^>]*>", name: {y("rx " + XSS[3])}}}
    - {{type: not_contains, values: {y(XSS)}}}
""",
        "utf-8",
    )
    return path
