"""The run lock: exclusive across processes, compatible with filelock, freed when the holder dies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from chatbot_tester.common.artifacts.run_lock import LockHeld, _file_lock, try_lock


def test_second_lock_in_the_same_process_is_refused_until_released(tmp_path: Path) -> None:
    release = try_lock(tmp_path / ".lock")
    with pytest.raises(LockHeld):
        try_lock(tmp_path / ".lock")
    release()
    try_lock(tmp_path / ".lock")()


def test_lock_excludes_filelock_both_ways(tmp_path: Path) -> None:
    """An older chatbot-tester (filelock) and this one never hold one run at once."""
    path = tmp_path / ".lock"
    release = try_lock(path)
    with pytest.raises(Timeout):
        FileLock(path, timeout=0, thread_local=False).acquire()
    release()
    other = FileLock(path, timeout=0, thread_local=False)
    other.acquire()
    with pytest.raises(LockHeld):
        try_lock(path)
    other.release()
    _file_lock(path)()  # the Windows path (filelock) works too


def test_lock_held_by_another_process_and_freed_when_it_dies(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from chatbot_tester.common.artifacts.run_lock import try_lock\n"
        "try_lock(Path(sys.argv[1]))\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(LockHeld):
                try_lock(path)
        finally:
            holder.kill()
    try_lock(path)()  # killed without releasing: the OS freed it
