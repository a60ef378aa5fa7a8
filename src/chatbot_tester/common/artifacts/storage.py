"""Artifact storage: atomic file writes and a small key/value store over POSIX-style keys.

Every whole-file write goes through a temp file in the same directory, is fsynced and then
``os.replace``d over the target, so a crash leaves either the old or the new file, never half
of one. ``LocalStore`` is the local-disk implementation of the ``ArtifactStore`` protocol;
other stores (object storage, ...) can implement the same five methods.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol, cast, runtime_checkable

from chatbot_tester.common.redact import mask_secrets_bytes, max_form_bytes
from chatbot_tester.errors import ConfigError

__all__ = [
    "ArtifactStore",
    "LocalStore",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_key",
    "overwrite_in_place",
    "write_all",
]


def _fsync_dir(directory: Path) -> None:
    """Persist a rename on POSIX; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _MaskingWriter:
    """A binary file whose writes have registered secrets (``common.redact``) masked.

    A secret may straddle two writes (a report copied in 1 MB chunks): the last
    ``max_form_bytes() - 1`` bytes are held back and masked together with the next write;
    ``finish`` writes what is left.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._pending = b""

    def write(self, data: bytes) -> int:
        keep = max_form_bytes() - 1
        if keep <= 0 and not self._pending:
            self._fh.write(data)
            return len(data)
        masked = mask_secrets_bytes(self._pending + bytes(data))
        if keep > 0 and len(masked) > keep:
            self._fh.write(masked[:-keep])
            self._pending = masked[-keep:]
        elif keep > 0:
            self._pending = masked
        else:
            self._fh.write(masked)
            self._pending = b""
        return len(data)

    def finish(self) -> None:
        """Write the held-back tail."""
        if self._pending:
            self._fh.write(mask_secrets_bytes(self._pending))
            self._pending = b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@contextlib.contextmanager
def atomic_open(path: Path, *, fsync: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` atomically when the block exits cleanly.

    On an exception the temp file is removed and ``path`` is left untouched. Every write
    has registered secrets masked (``common.redact.mask_secrets_bytes``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        exc.filename = str(path)
        raise
    tmp = Path(tmp_name)
    try:
        # mkstemp creates 0600; give the artifact the permissions a plain open() would.
        os.chmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            writer = _MaskingWriter(fh)
            yield cast(IO[bytes], writer)
            writer.finish()
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename in (None, tmp_name):
            exc.filename = str(path)  # a full disk names the artifact, not its temp file
        raise
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, rename)."""
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_key(key: str) -> str:
    """Validate a POSIX-style store key (``runs/x/results.jsonl``); ``ConfigError`` if unsafe.

    Absolute keys, ``..`` or ``.`` segments, empty segments, backslashes and NUL are rejected so
    that a key can never escape the store's root.
    """
    if not isinstance(key, str) or not key:
        raise ConfigError(f"invalid storage key {key!r}: must be a non-empty string")
    if "\x00" in key or "\\" in key:
        raise ConfigError(f"invalid storage key {key!r}: NUL and backslashes are not allowed")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise ConfigError(f"invalid storage key {key!r}: must be relative")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ConfigError(f"invalid storage key {key!r}: empty, '.' or '..' segment")
    return key


@runtime_checkable
class ArtifactStore(Protocol):
    """Where run artifacts live: bytes under POSIX-style keys, written atomically."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous value atomically."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``FileNotFoundError`` when absent."""
        ...

    def exists(self, key: str) -> bool:
        """True when ``key`` holds a value."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys under ``prefix`` (a folder-like key, or ``""`` for all)."""
        ...

    def append_line(self, key: str, line: bytes) -> None:
        """Append one record (``line`` gets a newline if missing), flushed before returning."""
        ...


class LocalStore:
    """``ArtifactStore`` on the local file system below ``root``.

    ``append_line`` opens, writes once and closes per call, which is durable but not fast;
    the runner's hot path uses ``common.artifacts.jsonl.JsonlAppender`` on ``local_path(key)`` instead.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def local_path(self, key: str) -> Path:
        """The file that backs ``key``."""
        return self.root.joinpath(*check_key(key).split("/"))

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (temp file + fsync + rename)."""
        atomic_write_bytes(self.local_path(key), data)

    def put_text(self, key: str, text: str) -> None:
        """Store UTF-8 ``text`` under ``key`` atomically."""
        self.put_bytes(key, text.encode("utf-8"))

    def get_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``FileNotFoundError`` when absent."""
        return self.local_path(key).read_bytes()

    def get_text(self, key: str) -> str:
        """The UTF-8 text stored under ``key``."""
        return self.get_bytes(key).decode("utf-8")

    def exists(self, key: str) -> bool:
        """True when ``key`` is a stored file."""
        return self.local_path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys of every file below ``prefix`` (temp files excluded)."""
        base = self.local_path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        keys: list[str] = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(self.root)
            for name in filenames:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue
                keys.append((rel / name).as_posix())
        return sorted(keys)

    def append_line(self, key: str, line: bytes) -> None:
        """Append ``line`` (newline added if missing) with a single ``os.write``."""
        if not line.endswith(b"\n"):
            line += b"\n"
        path = self.local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            write_all(fd, line)
        finally:
            os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (one call for regular files in practice).

    Registered secrets are masked first: every JSONL append and event line passes here. A
    failure (disk full, quota, read-only file system) names the file it was writing.
    """
    view = memoryview(mask_secrets_bytes(data))
    try:
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as exc:
        if exc.filename is None:
            exc.filename = _fd_path(fd)
        raise


def _fd_path(fd: int) -> str:
    """The path behind an open file descriptor (Linux ``/proc``), else ``file descriptor N``."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"file descriptor {fd}"


def overwrite_in_place(path: Path, data: bytes) -> None:
    """Rewrite ``path`` through its existing blocks (no temp file), then cut it to size.

    The last resort of a failing run on a full disk, where the atomic temp file cannot be
    created: a manifest no larger than the one it replaces fits in the blocks it already has.
    """
    fd = os.open(path, os.O_WRONLY)
    try:
        write_all(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
