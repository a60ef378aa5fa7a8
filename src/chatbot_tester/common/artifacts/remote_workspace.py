"""Workspaces on object storage (``s3://bucket/prefix``, ``gs://``, ``az://``, ``memory://``).

A ``RemoteWorkspace`` is a ``Workspace`` whose root is a local spool directory under the
user's cache dir (``$CHATBOT_TESTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/chatbot-tester``,
else ``~/.cache/chatbot-tester``), one per workspace URL. Runs execute there through the
local code path; ``start_sync`` uploads them as they go (``run_sync``), ``open_run``
downloads a run from the bucket, which is the source of truth. The shared ``datasets/`` and
the variant ``groups/`` go up with ``publish_shared`` and come back with ``fetch_shared``;
the response and judge caches and the SQLite run index stay in the spool: they are local to
each machine.

``open_workspace`` picks the kind from the location: a path or ``file://`` is local.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.artifacts.remote_store import FsspecStore, is_url, storage_error
from chatbot_tester.common.artifacts.workspace import MANIFEST, RunDir, Workspace, validate_name
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.errors import ConfigError, ResumeError

if TYPE_CHECKING:  # run_sync (its model and regexes) is imported only for a remote workspace
    from chatbot_tester.common.artifacts.run_sync import RunSync

__all__ = [
    "RemoteWorkspace",
    "cache_home",
    "config_workspace",
    "merge_options",
    "open_workspace",
]

_META = ("manifest.json", "report.json", "tags.json", "compare.json")


def cache_home() -> Path:
    """Where chatbot-tester keeps per-machine state (spools and indexes of remote workspaces)."""
    explicit = os.environ.get("CHATBOT_TESTER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "chatbot-tester"


def _spool_for(url: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", url)[:60].strip("_")
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return cache_home() / "workspaces" / f"{slug}-{digest}"


def open_workspace(
    location: str | Path,
    *,
    options: dict[str, Any] | None = None,
    checkpoint_records: int = 500,
    checkpoint_seconds: float = 10.0,
) -> Workspace:
    """The workspace at ``location``: a directory, ``file://`` URL, or an object-store URL.

    A remote one is checked at once (unknown scheme, missing package, missing bucket,
    no credentials: one-line ``ConfigError``) so nothing is created before that fails.
    """
    if not is_url(location):
        return Workspace(Path(location))
    text = str(location)
    if text.lower().startswith("file://"):
        return Workspace(Path(text[len("file://") :]).expanduser())
    store = FsspecStore(text, options)
    store.check()
    return RemoteWorkspace(
        store, checkpoint_records=checkpoint_records, checkpoint_seconds=checkpoint_seconds
    )


def _stamp(files: dict[str, tuple[int, str]]) -> str:
    return "|".join(f"{n}:{files[n][0]}:{files[n][1]}" for n in _META if n in files)


class RemoteWorkspace(Workspace):
    """A workspace in object storage, run through a local spool directory."""

    def __init__(
        self,
        store: FsspecStore,
        *,
        spool: Path | None = None,
        checkpoint_records: int = 500,
        checkpoint_seconds: float = 10.0,
    ) -> None:
        super().__init__(spool or _spool_for(store.url))
        self.store = store
        self.checkpoint_records = checkpoint_records
        self.checkpoint_seconds = checkpoint_seconds

    @property
    def location(self) -> str:
        """The workspace URL."""
        return self.store.url

    @property
    def index_key(self) -> str:
        """The workspace URL: every machine reaching it shares its rows in a shared index."""
        return self.store.url

    def _listing(self, prefix: str = "runs") -> dict[str, dict[str, tuple[int, str]]]:
        """Run id -> {file name: (size, stamp)} of the runs in the bucket (below ``prefix``)."""
        try:
            found = self.store.list_detail(prefix)
        except Exception as exc:
            raise storage_error(self.store.url, exc, f"list {prefix}/") from None
        runs: dict[str, dict[str, tuple[int, str]]] = {}
        for key, info in found.items():
            parts = key.split("/")
            if len(parts) >= 3:
                runs.setdefault(parts[1], {})["/".join(parts[2:])] = info
        return {rid: files for rid, files in runs.items() if MANIFEST in files}

    def remote_run_ids(self) -> list[str]:
        """Ids of the runs in the bucket, oldest first."""
        return sorted(self._listing())

    def create_run(self) -> RunDir:
        """A new run in the spool (uploaded by ``start_sync``)."""
        return super().create_run()

    def open_run(self, ref: str) -> RunDir:
        """Run ``ref`` (an id or ``latest``) downloaded into the spool; else ``ResumeError``."""
        ids = self.remote_run_ids()
        if ref == "latest":
            if not ids:
                raise ResumeError(f"no runs in {self.store.url}")
            ref = ids[-1]
        elif Path(ref).is_dir() and ("/" in ref or ref.startswith(".")):
            return super().open_run(ref)  # a local run directory given by path
        try:
            validate_name(ref, "run id")
        except ConfigError as exc:
            raise ResumeError(str(exc)) from None
        if ref not in ids:
            hint = did_you_mean(ref, ids) if ids else "there are no runs yet"
            raise ResumeError(f"no run '{ref}' in {self.store.url} ({hint})")
        path = self.runs_dir / ref
        from chatbot_tester.common.artifacts.run_sync import download_run

        download_run(self.store, f"runs/{ref}", path)
        return RunDir(path)

    def list_runs(self) -> list[RunDir]:
        """The bucket's runs, oldest first, as spool paths (``open_run`` downloads one)."""
        return [RunDir(self.runs_dir / rid) for rid in self.remote_run_ids()]

    def start_sync(self, run: RunDir) -> RunSync:
        """Upload ``run`` now and at every checkpoint; ``close`` uploads the rest."""
        from chatbot_tester.common.artifacts.run_sync import RunSync

        return RunSync(
            self.store,
            f"runs/{run.run_id}",
            run.path,
            every_records=self.checkpoint_records,
            every_seconds=self.checkpoint_seconds,
        ).start()

    def publish(self, run: RunDir) -> None:
        """Upload what changed in ``run`` (a re-evaluation's scores and reports)."""
        from chatbot_tester.common.artifacts.run_sync import RunSync

        RunSync(self.store, f"runs/{run.run_id}", run.path).push(final=True)

    def fetch_shared(self, folder: str, prefix: str = "") -> None:
        """Download the files of ``folder`` starting with ``prefix`` missing from the spool.

        Shared files (datasets, group comparisons) are written once under names of their
        own, so a file of the same size in the spool is the same file.
        """
        try:
            listing = self.store.list_detail(folder)
            for key, (size, _stamp) in sorted(listing.items()):
                name = key[len(folder) + 1 :]
                if not name.startswith(prefix) or name.startswith("."):
                    continue
                target = self.root / key
                if not (target.is_file() and target.stat().st_size == size):
                    self.store.get_file(key, target)
        except Exception as exc:
            raise storage_error(self.store.url, exc, f"download {folder}/") from None

    def publish_shared(self, folder: str) -> None:
        """Upload the files of the spool's ``folder`` that the bucket lacks (or has changed)."""
        local = self.root / folder
        if not local.is_dir():
            return
        try:
            remote = self.store.list_detail(folder)
            for path in sorted(local.rglob("*")):
                if not path.is_file() or path.name.startswith("."):
                    continue
                key = path.relative_to(self.root).as_posix()
                if remote.get(key, (-1, ""))[0] != path.stat().st_size:
                    self.store.put_file(key, path)
        except Exception as exc:
            raise storage_error(self.store.url, exc, f"upload {folder}/") from None

    def scan_runs(self) -> dict[str, str]:
        """Run id -> stamp of its manifest, report, tags and comparison (one listing)."""
        return {rid: _stamp(files) for rid, files in self._listing().items()}

    def run_stamp(self, run_id: str) -> str | None:
        """The stamp ``scan_runs`` gives ``run_id`` (``None`` when the bucket has no such run)."""
        files = self._listing(f"runs/{validate_name(run_id, 'run id')}").get(run_id)
        return None if files is None else _stamp(files)

    def read_run_file(self, run_id: str, name: str) -> bytes | None:
        """Run file ``name`` of ``run_id`` from the bucket (``None`` when absent)."""
        key = f"runs/{validate_name(run_id, 'run id')}/{validate_name(name, 'run file name')}"
        try:
            return self.store.get_bytes(key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise storage_error(self.store.url, exc, f"read {key}") from None

    def write_run_file(self, run_id: str, name: str, data: bytes) -> None:
        """Replace run file ``name`` of ``run_id`` in the bucket (and in the spool copy)."""
        key = f"runs/{validate_name(run_id, 'run id')}/{validate_name(name, 'run file name')}"
        try:
            self.store.put_bytes(key, data)
        except Exception as exc:
            raise storage_error(self.store.url, exc, f"write {key}") from None
        if (self.runs_dir / run_id).is_dir():
            super().write_run_file(run_id, name, data)

    def delete_run(self, run_id: str) -> None:
        """Remove ``run_id`` from the bucket and from the spool."""
        prefix = f"runs/{validate_name(run_id, 'run id')}"
        try:
            self.store.delete_prefix(prefix)
        except Exception as exc:
            raise storage_error(self.store.url, exc, f"delete {prefix}") from None
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.runs_dir / run_id)


def merge_options(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, nested dicts merged key by key."""
    out = dict(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_options(out[key], value)
        else:
            out[key] = value
    return out


def config_workspace(
    config: PipelineConfig,
    override: str | Path | None = None,
    *,
    options: dict[str, Any] | None = None,
) -> Workspace:
    """The workspace of ``config`` (or ``override``, a CLI's ``--workspace``), with its storage.

    ``options`` (a CLI's ``--storage-option``) are laid over ``storage.options``.
    """
    location = override if override is not None else config.workspace_location()
    storage = config.storage
    try:
        return open_workspace(
            location,
            options=merge_options(storage.resolved_options(), options)
            if is_url(location)
            else None,
            checkpoint_records=storage.checkpoint_records,
            checkpoint_seconds=storage.checkpoint_seconds,
        )
    except ConfigError as exc:
        if config.source_file is None or exc.file is not None:
            raise
        raise ConfigError(exc.message, file=config.source_file) from None
