"""A run directory mirrored to object storage: numbered result parts, uploaded at checkpoints.

A run on a remote workspace executes in a local spool directory, exactly as a local run
(same appender, same kill -9 guarantees). ``RunSync`` uploads what the run writes:

- at start, every file there (manifest, config snapshot, dataset), so the run is visible;
- at each checkpoint (``every_records`` new records or ``every_seconds``, whichever comes
  first) the complete new lines of ``results.jsonl`` as ``results.part-0001.jsonl``,
  ``results.part-0002.jsonl``, ..., plus a changed manifest;
- at ``close`` the remaining results and every changed file (scores, reports, events).

Parts never overlap and each ends with a newline, so ``download_run`` rebuilds
``results.jsonl`` by concatenating them; a crash loses at most the records written since the
last uploaded part, and ``--resume`` skips every record that was uploaded. What was synced is
kept in ``.sync.json`` in the spool directory.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field

from chatbot_tester.common.artifacts.remote_store import FsspecStore, storage_error
from chatbot_tester.common.artifacts.storage import atomic_open, atomic_write_bytes
from chatbot_tester.common.types import empty_dict

__all__ = ["PART_PATTERN", "RunSync", "download_run", "part_name"]

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
EVENTS = "events.jsonl"
STATE = ".sync.json"
PART_PATTERN = re.compile(r"^results\.part-(\d{4,})\.jsonl$")
"""Names of the uploaded parts of ``results.jsonl``."""
_IMMUTABLE = re.compile(r"^(dataset\.jsonl|pipeline(\.resume-\d+)?\.yaml)$")


def part_name(number: int) -> str:
    """``results.part-0001.jsonl`` for ``number`` 1."""
    return f"results.part-{number:04d}.jsonl"


class SyncState(BaseModel):
    """What of a spool run directory is on the store (``.sync.json``)."""

    parts: int = 0
    """Result parts uploaded (or downloaded)."""
    offset: int = 0
    """Bytes of results.jsonl they hold."""
    files: dict[str, list[int]] = Field(default_factory=empty_dict)
    """Other files -> [size, mtime_ns] when last synced."""


def _load_state(run_dir: Path) -> SyncState:
    try:
        return SyncState.model_validate_json((run_dir / STATE).read_bytes())
    except (OSError, ValueError):
        return SyncState()


def _local_files(run_dir: Path) -> dict[str, list[int]]:
    """Relative path -> [size, mtime_ns] of every artifact below ``run_dir``."""
    out: dict[str, list[int]] = {}
    for dirpath, _dirs, names in os.walk(run_dir):
        for name in names:
            if name.startswith(".") or name == RESULTS:
                continue
            path = Path(dirpath) / name
            st = path.stat()
            out[path.relative_to(run_dir).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def download_run(store: FsspecStore, prefix: str, run_dir: Path) -> None:
    """Bring run ``prefix`` (``runs/<id>``) into ``run_dir``; parts become one results.jsonl.

    A run archived as Parquet (``results.parquet``, no parts) gets no ``results.jsonl``.

    Files already there from an earlier download or upload are kept when unchanged, so
    opening a run twice downloads little.
    """
    try:
        listing = store.list_detail(prefix)
    except Exception as exc:
        raise storage_error(store.url, exc, f"list {prefix}") from None
    state = _load_state(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    parts: list[tuple[int, str, int]] = []
    try:
        for key, (size, _stamp) in sorted(listing.items()):
            rel = key[len(prefix) + 1 :]
            match = PART_PATTERN.match(rel)
            if match:
                parts.append((int(match.group(1)), key, size))
                continue
            target = run_dir / rel
            if _IMMUTABLE.match(rel) and target.is_file() and target.stat().st_size == size:
                continue
            atomic_write_bytes(target, store.get_bytes(key))
        parts.sort()
        total = sum(size for _, _, size in parts)
        results = run_dir / RESULTS
        have = results.stat().st_size if results.is_file() else -1
        archived = not parts and (run_dir / "results.parquet").is_file()
        if archived:  # Parquet results only: an empty results.jsonl would hide them
            results.unlink(missing_ok=True)
            total = 0
        elif not (state.parts == len(parts) and state.offset == total == have):
            with atomic_open(results) as fh:
                for _, key, _ in parts:
                    data = store.get_bytes(key)
                    fh.write(data if data.endswith(b"\n") or not data else data + b"\n")
            total = results.stat().st_size
    except Exception as exc:
        raise storage_error(store.url, exc, f"download {prefix}") from None
    fresh = SyncState(parts=len(parts), offset=total, files=_local_files(run_dir))
    atomic_write_bytes(run_dir / STATE, fresh.model_dump_json().encode())


class RunSync:
    """Uploads one spool run directory to ``store`` under ``prefix`` (see the module doc)."""

    def __init__(
        self,
        store: FsspecStore,
        prefix: str,
        run_dir: Path,
        *,
        every_records: int = 500,
        every_seconds: float = 10.0,
    ) -> None:
        self.store, self.prefix, self.run_dir = store, prefix, Path(run_dir)
        self.every_records, self.every_seconds = every_records, every_seconds
        self.state = _load_state(self.run_dir)
        self._pending = bytearray()
        self._read_pos = self.state.offset
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RunSync:
        """Upload what is there now, then checkpoint in a background thread."""
        self.push(final=True)
        self._thread = threading.Thread(target=self._loop, name="chatbot-tester-sync", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop checkpointing and upload everything left; ``ConfigError`` when that fails."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.push(final=True)

    def __enter__(self) -> RunSync:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        poll = min(0.5, self.every_seconds)
        while not self._stop.wait(poll):
            try:
                self.push(final=False)
            except Exception as exc:  # the next checkpoint (or close) tries again
                log.warning("%s", exc)

    def push(self, *, final: bool) -> None:
        """One checkpoint: a new part when due (always when ``final``), changed files."""
        with self._lock:
            try:
                self._push_results(final)
                self._push_files(final)
            except Exception as exc:
                raise storage_error(self.store.url, exc, f"upload {self.prefix}") from None

    def _push_results(self, final: bool) -> None:
        path = self.run_dir / RESULTS
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size > self._read_pos:
            with open(path, "rb") as fh:
                fh.seek(self._read_pos)
                self._pending += fh.read(size - self._read_pos)
            self._read_pos = size
        end = self._pending.rfind(b"\n") + 1
        if end == 0:
            return
        due = final or time.monotonic() - self._last >= self.every_seconds
        if not due and self._pending.count(b"\n", 0, end) < self.every_records:
            return
        number = self.state.parts + 1
        self.store.put_bytes(f"{self.prefix}/{part_name(number)}", bytes(self._pending[:end]))
        del self._pending[:end]
        self.state.parts, self.state.offset = number, self.state.offset + end
        self._last = time.monotonic()
        self._save()

    def _push_files(self, final: bool) -> None:
        changed = False
        for rel, stamp in _local_files(self.run_dir).items():
            if self.state.files.get(rel) == stamp:
                continue
            if not final and not rel.endswith((".json", ".yaml")):
                continue  # growing files (scores, events) go up once, at close
            self.store.put_bytes(f"{self.prefix}/{rel}", (self.run_dir / rel).read_bytes())
            self.state.files[rel] = stamp
            changed = True
        if changed:
            self._save()

    def _save(self) -> None:
        atomic_write_bytes(self.run_dir / STATE, self.state.model_dump_json().encode())
