"""The run index: one row per run, for fast listing, filtering, baselines and pruning.

The index is a cache of the run directories, never the source of truth: ``refresh`` compares
each run's stamp (``Workspace.scan_runs``: one ``stat`` per local run, one listing for a
bucket) with the stored one and re-reads only the runs that changed, so a missing, stale or
outdated index rebuilds itself. By default it lives in SQLite at ``Workspace.index_path``
(``<workspace>/index.sqlite``; for a remote workspace, in its local spool under the cache
dir, one per machine and workspace URL). With ``index_url: postgresql://...`` it is one
table shared by many workspaces and machines (``index_postgres``): each refresh and each
recorded run updates only its own workspace's rows, and listing shows every workspace's.
Tags are kept in each run's ``tags.json``, so they survive a rebuild.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

from chatbot_tester.common.artifacts.index_store import FIELDS, IndexStore, Row, SqliteIndexStore
from chatbot_tester.common.artifacts.workspace import MANIFEST, REPORT_JSON, Workspace
from chatbot_tester.common.schemas import Manifest
from chatbot_tester.common.types import empty_dict, empty_list

__all__ = ["TAGS_FILE", "RunEntry", "RunIndex", "open_index", "open_store"]

TAGS_FILE = "tags.json"
"""Run file holding the run's tags (a JSON list of strings)."""
_COMPARE_JSON = "compare.json"


class RunEntry(BaseModel):
    """One run as the index knows it (``runs list --json`` prints these)."""

    run_id: str
    """The run id."""
    workspace: str = ""
    """The workspace holding the run: its URL, or ``host:/path`` for a directory."""
    pipeline: str = ""
    """Pipeline name."""
    variant: str | None = None
    """Variant name, for a run of a pipeline with variants."""
    status: str = "unknown"
    """The manifest's status (``invalid`` when the manifest cannot be read)."""
    dataset_hash: str | None = None
    """Hash of the run's dataset."""
    created_at: str | None = None
    """Start (ISO 8601, UTC)."""
    updated_at: str | None = None
    """Last manifest update: the end, for a finished run."""
    samples: int = 0
    """Samples in the dataset."""
    records: int = 0
    """Result records."""
    errors: int = 0
    """Errored records."""
    scores: int = 0
    """Scores written."""
    evaluated: bool = False
    """True when the run has a report.json."""
    passed: bool | None = None
    """The report's verdict (``None`` before evaluation)."""
    cost_usd: float | None = None
    """Total cost of the priced records."""
    git_commit: str | None = None
    """Commit of the pipeline's repository when the run started."""
    baseline: str | None = None
    """Run id this run was compared with (its compare.json)."""
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=empty_dict)
    """Headline metrics: mean with ci_low/ci_high, pass_rate with its interval."""
    tags: list[str] = Field(default_factory=empty_list)
    """Tags (``runs tag``)."""


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _entry(ws: Workspace, run_id: str) -> RunEntry:
    """Read run ``run_id``'s manifest, report, comparison and tags into one entry."""
    raw = ws.read_run_file(run_id, MANIFEST)
    if raw is None:
        return RunEntry(run_id=run_id, status="invalid")
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError:
        return RunEntry(run_id=run_id, status="invalid")
    entry = RunEntry(
        run_id=run_id,
        pipeline=manifest.pipeline,
        variant=manifest.variant,
        status=manifest.status.value,
        dataset_hash=None if manifest.dataset is None else manifest.dataset.hash,
        created_at=manifest.created_at.isoformat(),
        updated_at=manifest.updated_at.isoformat(),
        samples=manifest.counts.get("samples", 0),
        records=manifest.counts.get("records", 0),
        errors=manifest.counts.get("errors", 0),
        scores=manifest.counts.get("scores", 0),
        git_commit=manifest.versions.get("git_commit"),
    )
    report = _json(ws.read_run_file(run_id, REPORT_JSON))
    if isinstance(report, dict):
        entry.evaluated = True
        entry.passed = bool(report.get("passed", True))
        cost = report.get("cost") or {}
        entry.cost_usd = cost.get("total") if isinstance(cost, dict) else None
        keys = ("mean", "ci_low", "ci_high", "pass_rate", "pass_ci_low", "pass_ci_high")
        for name, stats in (report.get("metrics") or {}).items():
            if isinstance(stats, dict):
                entry.metrics[str(name)] = {k: stats.get(k) for k in keys}
    compare = _json(ws.read_run_file(run_id, _COMPARE_JSON))
    if isinstance(compare, dict) and isinstance(compare.get("baseline"), dict):
        entry.baseline = compare["baseline"].get("run_id")
    tags = _json(ws.read_run_file(run_id, TAGS_FILE))
    if isinstance(tags, list):
        entry.tags = [str(t) for t in tags]
    return entry


class RunIndex:
    """The runs of ``ws`` (and, in a shared ``store``, of other workspaces too).

    ``refresh`` before reading; without a ``store`` it is the workspace's SQLite file.
    """

    def __init__(self, ws: Workspace | None, store: IndexStore | None = None) -> None:
        if store is None:
            if ws is None:
                raise ValueError("a RunIndex without a store needs a workspace")
            store = SqliteIndexStore(ws.index_path)
        self.ws = ws
        self.store = store

    @property
    def where(self) -> str:
        """The index as named in messages (a file, or a URL with its password masked)."""
        return self.store.where

    @property
    def shared(self) -> bool:
        """True when the index holds the runs of more than one workspace."""
        return self.store.shared

    def close(self) -> None:
        """Close the index."""
        self.store.close()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self, ws: Workspace | None = None) -> RunIndex:
        """Bring the rows of ``ws`` (default: this index's) up to date with its run directories.

        Only the runs whose stamp changed are re-read; with neither workspace nothing happens.
        """
        ws = ws or self.ws
        if ws is None:
            return self
        key = ws.index_key
        stamps = ws.scan_runs()
        known = self.store.stamps(key)
        changed = [rid for rid, stamp in stamps.items() if known.get(rid) != stamp]
        gone = [rid for rid in known if rid not in stamps]
        if changed or gone:
            rows = [self._row(_entry(ws, rid), stamps[rid]) for rid in changed]
            self.store.apply(key, rows, gone)
        return self

    def record(self, run_id: str, ws: Workspace | None = None) -> None:
        """Write run ``run_id`` of ``ws`` (default: this index's) into the index now."""
        ws = ws or self.ws
        assert ws is not None, "record needs a workspace"
        stamp = ws.run_stamp(run_id)
        if stamp is None:
            self.store.apply(ws.index_key, [], [run_id])
        else:
            self.store.apply(ws.index_key, [self._row(_entry(ws, run_id), stamp)], [])

    @staticmethod
    def _row(entry: RunEntry, stamp: str) -> Row:
        data = entry.model_dump()
        values: list[str | None] = [entry.run_id, stamp]
        for name in FIELDS[1:]:
            value = data[name]
            values.append(orjson.dumps(value).decode() if value is not None else None)
        return tuple(values)

    def latest(self, *, before: str | None = None, tag: str | None = None) -> RunEntry | None:
        """The newest evaluated run of this workspace (older than ``before``, with ``tag``)."""
        found = self.entries(before=before, tag=tag, evaluated=True, workspace=self.ws)
        return found[-1] if found else None

    def entries(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
        evaluated: bool | None = None,
        workspace: Workspace | None = None,
    ) -> list[RunEntry]:
        """Runs matching every given filter (``workspace``: only its runs), oldest first."""
        key = None if workspace is None else workspace.index_key
        since_text = None if since is None else since.isoformat()
        out = []
        for row in self.store.rows():
            if key is not None and row[0] != key:
                continue
            data: dict[str, Any] = {"workspace": row[0], "run_id": row[1]}
            for name, value in zip(FIELDS[1:], row[2:], strict=True):
                if value is not None:
                    data[name] = orjson.loads(value)
            entry = RunEntry.model_validate(data)
            if pipeline is not None and entry.pipeline != pipeline:
                continue
            if status is not None and entry.status != status:
                continue
            if tag is not None and tag not in entry.tags:
                continue
            if before is not None and entry.run_id >= before:
                continue
            if evaluated is not None and entry.evaluated != evaluated:
                continue
            if since_text is not None and (entry.created_at or "") < since_text:
                continue
            out.append(entry)
        return out

    def get(self, run_id: str) -> RunEntry | None:
        """The entry of ``run_id`` (``None`` when unknown)."""
        found = [e for e in self.entries() if e.run_id == run_id]
        return found[0] if found else None


def open_store(url: str | None, ws: Workspace | None, *, what: str = "index_url") -> IndexStore:
    """The store at ``url`` (PostgreSQL), else ``ws``'s SQLite file; ``ConfigError`` if bad."""
    if url:
        from chatbot_tester.common.artifacts.index_postgres import PostgresIndexStore

        return PostgresIndexStore(url, what=what)
    if ws is None:
        raise ValueError("open_store needs an index URL or a workspace")
    return SqliteIndexStore(ws.index_path)


def open_index(ws: Workspace | None, url: str | None = None) -> RunIndex:
    """The run index of ``ws`` (at ``url`` when shared), refreshed from ``ws``'s runs."""
    index = RunIndex(ws, open_store(url, ws))
    try:
        return index.refresh()
    except BaseException:
        index.close()
        raise
