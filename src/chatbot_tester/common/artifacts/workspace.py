"""The workspace layout: run ids, run directories, manifests; nothing is ever overwritten.

::

    <workspace>/
      runs/<run id>/      manifest.json, pipeline.yaml, dataset.jsonl, results.jsonl,
                          scores.jsonl, events.jsonl, report.{json,html,md}, junit.xml
      datasets/           generated datasets shared between runs
      cache/              response and judge caches
      index.sqlite        the run index (``common.artifacts.run_index``), rebuilt when missing

A remote workspace (``s3://...``, ``common.artifacts.remote_workspace``) has the same layout
in the bucket and runs in a local spool directory; the methods at the end of ``Workspace``
(``start_sync``, ``publish``, ``scan_runs``, ``read_run_file``, ...) are where the two differ.

Run ids look like ``20261124T112233123Z-a1b2c3``: UTC time to the millisecond, then a
random suffix that is incremented within one millisecond, so ids sort by creation time and
stay unique even when many are made at once. Run directories are created with an exclusive
``mkdir``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.common.schemas import Manifest, utcnow
from chatbot_tester.errors import ConfigError, ResumeError

__all__ = [
    "CONFIG_SNAPSHOT",
    "DATASET",
    "EVENTS",
    "MANIFEST",
    "REPORT_HTML",
    "REPORT_JSON",
    "REPORT_JUNIT",
    "REPORT_MD",
    "RESULTS",
    "RUN_ID_PATTERN",
    "SCORES",
    "RunDir",
    "RunSyncHandle",
    "Workspace",
    "new_run_id",
    "validate_name",
    "write_new",
]

DATASET, RESULTS, SCORES, EVENTS, MANIFEST, CONFIG_SNAPSHOT = (
    "dataset.jsonl",
    "results.jsonl",
    "scores.jsonl",
    "events.jsonl",
    "manifest.json",
    "pipeline.yaml",
)
REPORT_JSON, REPORT_HTML, REPORT_JUNIT, REPORT_MD = (
    "report.json",
    "report.html",
    "junit.xml",
    "report.md",
)

RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{6}$")
"""Shape of the ids made by ``new_run_id``."""

_SUFFIX_SPACE = 1 << 24  # six hex digits
_id_lock = threading.Lock()
_last_ms = 0
_last_suffix = 0


def new_run_id() -> str:
    """A new run id: time-sortable, strictly increasing within this process, unique."""
    global _last_ms, _last_suffix
    with _id_lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            # Random start in the lower half leaves room to increment within the millisecond.
            _last_ms, _last_suffix = now_ms, secrets.randbelow(_SUFFIX_SPACE // 2)
        else:  # same millisecond (or the clock went back): keep order by incrementing
            _last_suffix += 1
            if _last_suffix >= _SUFFIX_SPACE:
                _last_ms, _last_suffix = _last_ms + 1, secrets.randbelow(_SUFFIX_SPACE // 2)
        ms, suffix = _last_ms, _last_suffix
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000))
    return f"{stamp}{ms % 1000:03d}Z-{suffix:06x}"


def validate_name(value: str, what: str) -> str:
    """Return ``value`` if it is safe as one file or directory name, else ``ConfigError``.

    Rejects empty names, ``.`` and ``..``, path separators (slash and backslash), NUL and other
    control characters, so that a name taken from a config or CLI cannot escape its folder.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must not be empty")
    if value in (".", "..") or ".." in value:
        raise ConfigError(f"{what} {value!r} must not contain '..'")
    if "/" in value or "\\" in value:
        raise ConfigError(f"{what} {value!r} must not contain '/' or '\\'")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise ConfigError(f"{what} {value!r} must not contain control characters")
    return value


def write_new(path: Path, data: bytes | str) -> None:
    """Create ``path`` with ``data``; ``ConfigError`` if it already exists (never overwrites).

    The content is written to a temp file first and hard-linked into place, so the file
    appears complete or not at all; where hard links are unavailable, ``O_EXCL`` is used.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            raise _exists(path) from None
        except OSError:  # no hard links on this file system
            try:
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise _exists(path) from None
            with os.fdopen(out, "wb") as fh:
                fh.write(payload)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)


def _exists(path: Path) -> ConfigError:
    return ConfigError("already exists; refusing to overwrite it", file=path)


class RunDir:
    """One run's directory: named files plus the manifest."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.run_id = self.path.name

    def file(self, name: str) -> Path:
        """Path of the run file ``name`` (e.g. ``RESULTS``); the name is validated."""
        return self.path / validate_name(name, "run file name")

    def exists(self, name: str) -> bool:
        """True when the run file ``name`` exists."""
        return self.file(name).is_file()

    def write_new(self, name: str, data: bytes | str) -> Path:
        """Create the run file ``name``; ``ConfigError`` if it exists already."""
        target = self.file(name)
        write_new(target, data)
        return target

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's exclusive lock; ``ResumeError`` when another process holds it.

        Two processes appending to one run (e.g. two ``--resume`` of the same id) would send
        samples twice; the lock (``common.artifacts.run_lock`` on ``.lock``: ``flock`` on
        POSIX, ``msvcrt`` on Windows; released automatically when the process dies, so a
        killed run never stays locked) makes the second one stop at once. The holder's pid is
        in ``.lock.pid``.
        """
        from chatbot_tester.common.artifacts.run_lock import LockHeld, try_lock

        try:
            release = try_lock(self.path / ".lock")
        except LockHeld:
            raise ResumeError(
                f"run {self.run_id} is in use by another chatbot-tester process; "
                "wait for it to finish (or stop it) before resuming"
            ) from None
        try:
            atomic_write_bytes(self.path / ".lock.pid", f"{os.getpid()}\n".encode())
            yield
        finally:
            release()

    def read_manifest(self) -> Manifest:
        """The run's manifest; ``ResumeError`` when it is missing or unreadable."""
        path = self.file(MANIFEST)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ResumeError(f"{self.path}: no {MANIFEST}; is this a run directory?") from None
        try:
            return Manifest.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in first["loc"]) or "manifest"
            raise ResumeError(f"{path}: invalid manifest: {loc}: {first['msg']}") from None

    def write_manifest(self, manifest: Manifest) -> None:
        """Write the manifest atomically, refreshing its ``updated_at``."""
        manifest.updated_at = utcnow()
        atomic_write_bytes(self.file(MANIFEST), manifest.model_dump_json(indent=2).encode())

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)


class RunSyncHandle(Protocol):
    """What ``Workspace.start_sync`` returns: ``close`` uploads what is left (remote only)."""

    def close(self) -> None:
        """Finish syncing the run."""
        ...


class _NoSync:
    def close(self) -> None:
        return None


class Workspace:
    """The folder holding runs, shared datasets and caches.

    Constructing a ``Workspace`` touches nothing on disk; ``create_run`` makes ``runs/`` and
    the ``cache_dir`` property creates its folder on first use (``datasets_dir`` is created
    by the dataset writer).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def runs_dir(self) -> Path:
        """``<workspace>/runs``."""
        return self.root / "runs"

    @property
    def datasets_dir(self) -> Path:
        """``<workspace>/datasets``; the dataset writer creates it (no empty folder on errors)."""
        return self.root / "datasets"

    @property
    def cache_dir(self) -> Path:
        """``<workspace>/cache`` (created on access)."""
        path = self.root / "cache"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create_run(self) -> RunDir:
        """Create a new, empty run directory with a fresh id (exclusive ``mkdir``)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            path = self.runs_dir / new_run_id()
            try:
                path.mkdir()
            except FileExistsError:  # another process made the same id: draw again
                continue
            return RunDir(path)
        raise ConfigError(f"{self.runs_dir}: could not create a unique run directory")

    def open_run(self, ref: str) -> RunDir:
        """An existing run by id, by ``latest``, or by path to its directory; else ResumeError."""
        if ref == "latest":
            runs = self.list_runs()
            if not runs:
                raise ResumeError(f"no runs in {self.runs_dir}")
            return runs[-1]
        looks_like_path = "/" in ref or "\\" in ref or ref.startswith(".")
        if looks_like_path or (not (self.runs_dir / ref).is_dir() and Path(ref).is_dir()):
            path = Path(ref).expanduser()
            if not path.is_dir():
                raise ResumeError(f"run directory {ref} does not exist")
            return RunDir(path.resolve())
        try:
            validate_name(ref, "run id")
        except ConfigError as exc:
            raise ResumeError(str(exc)) from None
        path = self.runs_dir / ref
        if not path.is_dir():
            known = [r.run_id for r in self.list_runs()]
            hint = did_you_mean(ref, known) if known else "there are no runs yet"
            raise ResumeError(f"no run '{ref}' in {self.runs_dir} ({hint})")
        return RunDir(path)

    def list_runs(self) -> list[RunDir]:
        """Every run directory, oldest first (ids sort by creation time)."""
        if not self.runs_dir.is_dir():
            return []
        return [
            RunDir(p)
            for p in sorted(self.runs_dir.iterdir(), key=lambda p: p.name)
            if p.is_dir() and not p.name.startswith(".")
        ]

    # Where local and remote workspaces differ (``remote_workspace.RemoteWorkspace``).

    @property
    def location(self) -> str:
        """The workspace as the user named it (a directory, or a URL)."""
        return str(self.root)

    @property
    def index_path(self) -> Path:
        """The run index's SQLite file (``<workspace>/index.sqlite``)."""
        return self.root / "index.sqlite"

    @property
    def index_key(self) -> str:
        """The workspace's key in a run index shared by many: ``host:/absolute/path``."""
        return f"{socket.gethostname()}:{self.root.resolve()}"

    def start_sync(self, run: RunDir) -> RunSyncHandle:
        """Start mirroring ``run`` elsewhere; a local run is already where it belongs."""
        return _NoSync()

    def publish(self, run: RunDir) -> None:
        """Make the files written into ``run`` (scores, reports, comparisons) durable."""

    def fetch_shared(self, folder: str, prefix: str = "") -> None:
        """Bring the files of ``folder`` starting with ``prefix`` from where they live.

        ``folder`` is ``datasets`` or ``groups/<id>``; a local workspace has them already.
        """

    def publish_shared(self, folder: str) -> None:
        """Make the files of ``folder`` durable where the workspace lives.

        ``folder`` is ``datasets`` or ``groups/<id>``; a local workspace has them there already.
        """

    def scan_runs(self) -> dict[str, str]:
        """Run id -> a stamp that changes whenever the run's manifest, report or tags do.

        Every such file is replaced by a rename, which changes the directory's mtime: one
        ``stat`` per run keeps the index fresh.
        """
        if not self.runs_dir.is_dir():
            return {}
        out: dict[str, str] = {}
        with os.scandir(self.runs_dir) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                out[entry.name] = str(entry.stat().st_mtime_ns)
        return out

    def run_stamp(self, run_id: str) -> str | None:
        """The stamp ``scan_runs`` gives ``run_id`` (``None`` when there is no such run)."""
        try:
            return str((self.runs_dir / validate_name(run_id, "run id")).stat().st_mtime_ns)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_run_file(self, run_id: str, name: str) -> bytes | None:
        """The bytes of run file ``name`` of ``run_id`` (``None`` when it has none)."""
        try:
            return (self.runs_dir / run_id / validate_name(name, "run file name")).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_run_file(self, run_id: str, name: str, data: bytes) -> None:
        """Replace run file ``name`` of ``run_id`` atomically (tags)."""
        atomic_write_bytes(self.runs_dir / run_id / validate_name(name, "run file name"), data)

    def delete_run(self, run_id: str) -> None:
        """Remove run ``run_id`` and everything in it."""
        shutil.rmtree(self.runs_dir / validate_name(run_id, "run id"))
