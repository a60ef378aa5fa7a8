"""The console script's fast exit keeps what a normal exit does: status, atexit, threads, output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatbot_tester.cli.fast_exit import exit_code

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from chatbot_tester.cli.fast_exit import run_then_exit
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("done")
def main():
    threading.Thread(target=late).start()  # not a daemon: the exit waits for it
    sys.stdout.write("buffered, no newline")  # still in the buffer when main returns
    sys.exit(int(sys.argv[2]))
run_then_exit(main)
"""


@pytest.mark.parametrize("status", [0, 3])
def test_status_atexit_threads_and_buffered_output_survive(tmp_path: Path, status: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(status)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == "buffered, no newline"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"


def test_exit_codes_map_like_sys_exit(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(None) == 0 and exit_code(2) == 2 and exit_code(256 + 5) == 5
    assert exit_code("bad thing") == 1
    assert capsys.readouterr().err == "bad thing\n"


def test_the_module_entry_point_keeps_the_cli_exit_status(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("nope.yaml: file not found")
    assert "Traceback" not in proc.stderr
