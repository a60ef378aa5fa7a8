"""An exclusive, non-blocking lock on a file that the OS releases when its holder dies.

On POSIX it is one ``flock(LOCK_EX | LOCK_NB)`` on the open file (what ``filelock`` does there
too, without importing its ~4 ms of machinery on every run); on Windows, or on a file system
without ``flock`` support, it is ``filelock.FileLock`` (``msvcrt`` locking, or its fallback).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["LockHeld", "try_lock"]


class LockHeld(Exception):
    """Another open file (this process or another) holds the lock."""


def try_lock(path: Path) -> Callable[[], None]:
    """Take the lock on ``path`` (created when missing) or raise ``LockHeld``; returns release."""
    if os.name == "posix":
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise LockHeld(str(path)) from None
            if exc.errno not in (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP):
                raise
        else:

            def release() -> None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)

            return release
    return _file_lock(path)


def _file_lock(path: Path) -> Callable[[], None]:
    from filelock import FileLock, Timeout

    lock = FileLock(path, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(str(path)) from None
    return lock.release
