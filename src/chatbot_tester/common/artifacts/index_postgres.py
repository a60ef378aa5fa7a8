"""A run index shared by a team: ``index_url: postgresql://user:${PASSWORD}@host:port/db``.

One table, ``chatbot_tester_runs_v2`` (SQLAlchemy Core, created on first use), holds the runs
of every workspace that records into it, keyed by (workspace key, run id). It is a cache of
the run directories like the SQLite index: a workspace's rows are refreshed from its runs,
so dropping the table loses nothing but the rows of workspaces no one refreshes. SQLAlchemy
and psycopg come with the ``postgres`` extra. The password is masked in every message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from chatbot_tester.common.artifacts.index_store import FIELDS, Row
from chatbot_tester.common.redact import redact, register_secret
from chatbot_tester.errors import ConfigError

__all__ = ["SCHEMES", "PostgresIndexStore", "check_url", "mask_url"]

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
"""Accepted ``index_url`` schemes (``postgresql://`` uses psycopg 3)."""
TABLE = "chatbot_tester_runs_v2"
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:)([^@]*)@")


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (and any registered secret redacted)."""
    return redact(_PASSWORD.sub(r"\1***@", url))


def check_url(url: str, what: str = "index_url") -> str:
    """``url`` if its scheme is PostgreSQL's, else a one-line ``ConfigError``."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigError(
            f"{what}: {mask_url(url)} is not a PostgreSQL URL (use "
            "postgresql://user:password@host:port/database, or leave it out for the "
            "workspace's own SQLite index)"
        )
    return url


def _fix(text: str) -> str:
    low = text.lower()
    if "password" in low or "authentication" in low:
        return "check the user name and password in index_url (write the password as ${VAR})"
    if "does not exist" in low and "database" in low:
        return "create the database (createdb NAME) or fix its name in index_url"
    if "permission denied" in low:
        return "grant the index_url user CREATE and SELECT/INSERT/UPDATE/DELETE on the database"
    return "start the PostgreSQL server, or fix the host and port in index_url"


class PostgresIndexStore:
    """Rows of many workspaces' runs in one PostgreSQL table (see the module doc)."""

    shared = True

    def __init__(self, url: str, *, what: str = "index_url", connect_timeout: int = 5) -> None:
        check_url(url, what)
        match = _PASSWORD.match(url)
        self._password = match.group(2) if match else ""
        if self._password:
            register_secret(self._password)
        self.where = mask_url(url)
        self._what = what
        try:
            import sqlalchemy as sa
            from sqlalchemy.dialects import postgresql
        except ImportError:
            raise self._missing("SQLAlchemy") from None
        self._sa, self._pg = sa, postgresql
        scheme, rest = url.split("://", 1)
        if scheme.lower() in ("postgresql", "postgres"):
            scheme = "postgresql+psycopg"
        try:
            engine = sa.create_engine(
                f"{scheme}://{rest}",
                poolclass=sa.pool.NullPool,
                connect_args={"connect_timeout": connect_timeout},
            )
        except ImportError as exc:
            raise self._missing(exc.name or "psycopg") from None
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"{what} {self.where}: {self._clean(exc)}") from None
        metadata = sa.MetaData()
        self.table = sa.Table(
            TABLE,
            metadata,
            sa.Column("workspace", sa.Text, primary_key=True),
            sa.Column("run_id", sa.Text, primary_key=True),
            sa.Column("stamp", sa.Text),
            *(sa.Column(name, sa.Text) for name in FIELDS[1:]),
        )
        try:
            self._conn = engine.connect()
        except ImportError as exc:
            raise self._missing(exc.name or "psycopg") from None
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "connect") from None
        try:
            self._create(metadata)
        except sa.exc.SQLAlchemyError as exc:
            self._conn.close()
            raise self._fail(exc, f"create table {TABLE}") from None

    def _create(self, metadata: Any) -> None:
        sa = self._sa
        for attempt in range(3):  # two processes creating the table at once: one wins
            try:
                with self._conn.begin():
                    metadata.create_all(self._conn, checkfirst=True)
                return
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                if attempt == 2:
                    raise

    def _missing(self, package: str) -> ConfigError:
        return ConfigError(
            f"{self._what} {self.where} needs {package} "
            "(pip install 'chatbot-tester[postgres]': SQLAlchemy and psycopg)"
        )

    def _clean(self, exc: BaseException) -> str:
        orig = getattr(exc, "orig", None) or exc
        text = str(orig).strip().splitlines()
        line = text[0].strip() if text else type(orig).__name__
        if self._password:
            line = line.replace(self._password, "***")
        return redact(line)

    def _fail(self, exc: BaseException, doing: str) -> ConfigError:
        line = self._clean(exc)
        return ConfigError(f"{self._what} {self.where}: cannot {doing}: {line} ({_fix(line)})")

    def stamps(self, workspace: str) -> dict[str, str]:
        """Run id -> stored stamp, for the runs of ``workspace``."""
        sa, t = self._sa, self.table
        query = sa.select(t.c.run_id, t.c.stamp).where(t.c.workspace == workspace)
        try:
            with self._conn.begin():
                return {r[0]: r[1] for r in self._conn.execute(query)}
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "read the index") from None

    def apply(self, workspace: str, rows: Sequence[Row], gone: Sequence[str]) -> None:
        """Upsert ``rows`` and delete the runs ``gone`` of ``workspace``, in one transaction."""
        sa, t = self._sa, self.table
        names = ["workspace", "run_id", "stamp", *FIELDS[1:]]
        values = [dict(zip(names, (workspace, *row), strict=True)) for row in rows]
        try:
            with self._conn.begin():
                if gone:
                    self._conn.execute(
                        t.delete().where(t.c.workspace == workspace, t.c.run_id.in_(list(gone)))
                    )
                if values:
                    insert = self._pg.insert(t)
                    upsert = insert.on_conflict_do_update(
                        index_elements=[t.c.workspace, t.c.run_id],
                        set_={n: insert.excluded[n] for n in names[2:]},
                    )
                    self._conn.execute(upsert, values)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "update the index") from None

    def rows(self) -> list[tuple[str | None, ...]]:
        """Every row as ``(workspace, run_id, *FIELDS[1:])``, by run id."""
        sa, t = self._sa, self.table
        columns = [t.c.workspace, *(t.c[name] for name in FIELDS)]
        query = sa.select(*columns).order_by(t.c.run_id, t.c.workspace)
        try:
            with self._conn.begin():
                return [tuple(r) for r in self._conn.execute(query)]
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "read the index") from None

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
