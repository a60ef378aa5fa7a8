"""A full disk or a read-only file system while writing artifacts (issue 10).

The workspace sits on a real, tiny tmpfs (we run as root, here and in CI); where mounting
is not allowed, the run gets a file size limit instead (``RLIMIT_FSIZE``: writes past it
fail with EFBIG, the same code path). Either way: one ``error:`` line naming the file and
the OS's reason, exit 2, no traceback, and the manifest says the run failed and why.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

PIPELINE = """name: dfull
workspace: ./ws
generator: {source: data.jsonl}
runner:
  backend: echo
evaluator:
  metrics: [{type: contains, value: hello}]
"""


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[bool]:
    """Mount a tmpfs of ``size`` on ``path``; yields False when mounting is not permitted."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _project(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "input": "hello world " * 100 + str(i)} for i in range(300)]
    (tmp_path / "data.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _run(tmp_path: Path, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=preexec,
    )


def _manifest(tmp_path: Path) -> dict:
    (path,) = (tmp_path / "ws" / "runs").glob("*/manifest.json")
    return orjson.loads(path.read_bytes())


def _assert_one_line(done: subprocess.CompletedProcess, filename: str, reason: str) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith(reason), last
    assert re.search(rf"/{re.escape(filename)}[\w./-]*: ", last), last
    return last


# Sizes at which the disk fills while writing results, the manifest between stages, scores
# and reports (with today's record sizes; each case holds wherever it fills).
SIZES = [("1m", 450_000), ("1400k", 600_000), ("1420k", 800_000), ("1500k", 1_000_000)]


@pytest.mark.e2e
@pytest.mark.parametrize(("size", "limit"), SIZES, ids=[s for s, _ in SIZES])
def test_a_full_disk_is_one_line_exit_2_and_a_failed_manifest(
    tmp_path: Path, size: str, limit: int
) -> None:
    _project(tmp_path)
    with _tmpfs(tmp_path / "ws", size) as mounted:
        if mounted:
            done = _run(tmp_path)
            reason = "No space left on device (ENOSPC)"
        else:
            done = _run(tmp_path, _file_size_limit(limit))
            reason = "File too large (EFBIG)"
        last = _assert_one_line(done, "ws/runs/", reason)
        manifest = _manifest(tmp_path)
    assert manifest["status"] == "failed"
    assert last.removeprefix("error: ") == manifest["error"]


@pytest.mark.e2e
def test_a_read_only_workspace_is_one_line_exit_2(tmp_path: Path) -> None:
    _project(tmp_path)
    with _tmpfs(tmp_path / "ws", "1m") as mounted:
        if not mounted:
            pytest.skip("cannot mount a file system here")  # root bypasses chmod, so no fallback
        subprocess.run(["mount", "-o", "remount,ro", str(tmp_path / "ws")], check=True)
        done = _run(tmp_path)
    _assert_one_line(done, "ws/datasets", "Read-only file system (EROFS)")
