"""The run index: one SQLite row per run, for fast listing, filtering, baselines and pruning.

The index is a cache of the run directories, never the source of truth: ``refresh`` compares
each run's stamp (``Workspace.scan_runs``: one ``stat`` per local run, one listing for a
bucket) with the stored one and re-reads only the runs that changed, so a missing, stale or
outdated index rebuilds itself. It lives at ``Workspace.index_path`` (``<workspace>/
index.sqlite``; for a remote workspace, in its local spool under the cache dir, one per
machine and workspace URL). Tags are kept in each run's ``tags.json``, so they survive a
rebuild.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

from chatbot_tester.common.artifacts.workspace import MANIFEST, REPORT_JSON, Workspace
from chatbot_tester.common.schemas import Manifest
from chatbot_tester.errors import ConfigError

__all__ = ["TAGS_FILE", "RunEntry", "RunIndex", "open_index"]

TAGS_FILE = "tags.json"
"""Run file holding the run's tags (a JSON list of strings)."""
_COMPARE_JSON = "compare.json"
_VERSION = 1
_FIELDS = (
    "run_id",
    "pipeline",
    "variant",
    "status",
    "dataset_hash",
    "created_at",
    "updated_at",
    "samples",
    "records",
    "errors",
    "scores",
    "evaluated",
    "passed",
    "cost_usd",
    "git_commit",
    "baseline",
    "metrics",
    "tags",
)


class RunEntry(BaseModel):
    """One run as the index knows it (``runs list --json`` prints these)."""

    run_id: str
    """The run id."""
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
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    """Headline metrics: mean with ci_low/ci_high, pass_rate with its interval."""
    tags: list[str] = Field(default_factory=list)
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
    """The index of ``ws`` in SQLite at ``ws.index_path``; ``refresh`` before reading."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.path = ws.index_path
        self._db: sqlite3.Connection | None = None

    def _fail(self, exc: sqlite3.Error) -> ConfigError:
        return ConfigError(
            f"the run index is unreadable: {exc} (delete it: it is rebuilt from the runs)",
            file=self.path,
        )

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != _VERSION:  # new file or an older layout: start over
                db.execute("DROP TABLE IF EXISTS runs")
                columns = ", ".join(f"{f} TEXT" for f in _FIELDS[1:])
                db.execute(f"CREATE TABLE runs (run_id TEXT PRIMARY KEY, stamp TEXT, {columns})")
                db.execute(f"PRAGMA user_version={_VERSION}")
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        self._db = db
        return db

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> RunIndex:
        """Bring the index up to date with the run directories (changed runs only)."""
        db = self._connect()
        stamps = self.ws.scan_runs()
        try:
            known = dict(db.execute("SELECT run_id, stamp FROM runs").fetchall())
            changed = [rid for rid, stamp in stamps.items() if known.get(rid) != stamp]
            gone = [rid for rid in known if rid not in stamps]
            if not changed and not gone:
                return self
            rows = [self._row(_entry(self.ws, rid), stamps[rid]) for rid in changed]
            marks = ", ".join("?" * (len(_FIELDS) + 1))
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM runs WHERE run_id = ?", [(r,) for r in gone])
                db.executemany(f"INSERT OR REPLACE INTO runs VALUES ({marks})", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        return self

    @staticmethod
    def _row(entry: RunEntry, stamp: str) -> tuple[Any, ...]:
        data = entry.model_dump()
        values: list[Any] = [entry.run_id, stamp]
        for name in _FIELDS[1:]:
            value = data[name]
            values.append(orjson.dumps(value).decode() if value is not None else None)
        return tuple(values)

    def latest(self, *, before: str | None = None, tag: str | None = None) -> RunEntry | None:
        """The newest evaluated run (older than ``before``, carrying ``tag``), if any."""
        found = self.entries(before=before, tag=tag, evaluated=True)
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
    ) -> list[RunEntry]:
        """Runs matching every given filter, oldest first."""
        db = self._connect()
        try:
            rows = db.execute(f"SELECT {', '.join(_FIELDS)} FROM runs ORDER BY run_id").fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        out = []
        for row in rows:
            data = {"run_id": row[0]}
            for name, value in zip(_FIELDS[1:], row[1:], strict=True):
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
            if since is not None and (entry.created_at or "") < since.isoformat():
                continue
            out.append(entry)
        return out

    def get(self, run_id: str) -> RunEntry | None:
        """The entry of ``run_id`` (``None`` when unknown)."""
        found = [e for e in self.entries() if e.run_id == run_id]
        return found[0] if found else None


def open_index(ws: Workspace) -> RunIndex:
    """``ws``'s run index, refreshed."""
    return RunIndex(ws).refresh()
