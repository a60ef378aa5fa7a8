"""Helpers for end-to-end tests: run the real CLI in a subprocess inside a temp project."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else ""


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> CliResult:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("GITHUB_STEP_SUMMARY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def good_bot(prompt: str) -> str:
    """A chatbot double that answers every quickstart-style question right."""
    return f"echo: {prompt}"


def worse_bot(prompt: str) -> str:
    """The same bot with a planted regression: questions 0..14 now get a wrong answer."""
    number = int(prompt.rsplit(" ", 1)[-1])
    return "wrong" if number < 15 else f"echo: {prompt}"
