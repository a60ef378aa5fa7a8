"""Where the run index keeps its rows: the ``IndexStore`` protocol and its SQLite store.

The index (``common.artifacts.run_index``) decides *what* a row holds; a store only keeps
rows. A row is ``(run_id, stamp, *FIELDS[1:])``, every field JSON-encoded text, under a
workspace key (``Workspace.index_key``: a URL, or ``host:/path`` for a directory), so one
store can hold the runs of many workspaces. ``SqliteIndexStore`` is the embedded default (one
file per workspace, the standard library's ``sqlite3``: no extra import on the CLI's path);
``index_postgres.PostgresIndexStore`` shares one index across a team through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from chatbot_tester.errors import ConfigError

__all__ = ["FIELDS", "IndexStore", "Row", "SqliteIndexStore"]

FIELDS = (
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
"""The columns of a run's row after ``stamp`` (``RunEntry``'s fields, JSON-encoded)."""

Row = tuple[str | None, ...]
"""``(run_id, stamp, *FIELDS[1:])`` as stored."""

_VERSION = 2  # 2: rows carry the workspace key


class IndexStore(Protocol):
    """Rows of runs, keyed by (workspace key, run id)."""

    where: str
    """What to name in messages: the SQLite file, or the index URL with its password masked."""
    shared: bool
    """True when the store holds the runs of more than one workspace."""

    def stamps(self, workspace: str) -> dict[str, str]:
        """Run id -> stored stamp, for the runs of ``workspace``."""
        ...

    def apply(self, workspace: str, rows: Sequence[Row], gone: Sequence[str]) -> None:
        """In one transaction: insert or replace ``rows`` and delete the runs ``gone``."""
        ...

    def rows(self) -> list[tuple[str | None, ...]]:
        """Every row as ``(workspace, run_id, *FIELDS[1:])``, by run id."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class SqliteIndexStore:
    """The embedded index of one workspace: ``index.sqlite`` (WAL, rebuilt on a new layout).

    It holds one workspace: rows under any other key (the workspace was moved or copied)
    are dropped on the next change.
    """

    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != _VERSION:  # new file or an older layout: start over
                db.execute("DROP TABLE IF EXISTS runs")
                columns = ", ".join(f"{f} TEXT" for f in FIELDS[1:])
                db.execute(
                    "CREATE TABLE runs (workspace TEXT NOT NULL, run_id TEXT NOT NULL, "
                    f"stamp TEXT, {columns}, PRIMARY KEY (workspace, run_id))"
                )
                db.execute(f"PRAGMA user_version={_VERSION}")
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        self._db = db

    def _fail(self, exc: sqlite3.Error) -> ConfigError:
        return ConfigError(
            f"the run index is unreadable: {exc} (delete it: it is rebuilt from the runs)",
            file=self.path,
        )

    def stamps(self, workspace: str) -> dict[str, str]:
        """Run id -> stored stamp, for the runs of ``workspace``."""
        try:
            found = self._db.execute(
                "SELECT run_id, stamp FROM runs WHERE workspace = ?", (workspace,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        return dict(found)

    def apply(self, workspace: str, rows: Sequence[Row], gone: Sequence[str]) -> None:
        """Insert or replace ``rows``, delete ``gone`` and any other workspace's rows."""
        marks = ", ".join("?" * (len(FIELDS) + 2))
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM runs WHERE workspace != ?", (workspace,))
                db.executemany(
                    "DELETE FROM runs WHERE workspace = ? AND run_id = ?",
                    [(workspace, r) for r in gone],
                )
                db.executemany(
                    f"INSERT OR REPLACE INTO runs VALUES ({marks})",
                    [(workspace, *row) for row in rows],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._fail(exc) from None

    def rows(self) -> list[tuple[str | None, ...]]:
        """Every row as ``(workspace, run_id, *FIELDS[1:])``, by run id."""
        try:
            return self._db.execute(
                f"SELECT workspace, {', '.join(FIELDS)} FROM runs ORDER BY run_id"
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()
