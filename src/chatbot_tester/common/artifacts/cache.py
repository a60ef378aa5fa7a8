"""Content-addressed response cache in one SQLite file (``<workspace>/cache/responses.sqlite``).

The key is the hash of what determines an answer (backend identity, model, params,
messages, tools, template variables) and never of the sample or session id, so identical
requests share an answer across samples and runs. Writes are buffered in memory and flushed
in one short transaction every ``batch_size`` puts, ~``flush_interval_s`` seconds, or on
close: 10k puts cost a handful of commits, not 10k. WAL mode lets a second process read
(and write) the same file: several processes (the Ray workers of one run) share it safely;
a batch takes the write lock up front (``BEGIN IMMEDIATE``, waiting up to the busy timeout),
and a batch that still finds the file locked stays pending for the next flush instead of
turning the cache off. A corrupted file is moved aside with a warning, never fatal (a locked
one is never taken for corrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from pydantic import ValidationError

from chatbot_tester.common.redact import mask_secrets_bytes
from chatbot_tester.common.schemas import ChatRequest, ChatResponse

__all__ = ["CACHE_FILE", "ResponseCache", "open_cache"]

log = logging.getLogger(__name__)

CACHE_FILE = "responses.sqlite"
"""File name of the response cache inside ``<workspace>/cache``."""

_KEY_VERSION = 1
# Template variables that name a sample or a conversation, not its content.
_IDENTITY_VARIABLES = frozenset({"id", "sample_id", "session_id", "repeat"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID
"""


class ResponseCache:
    """Get and put ``ChatResponse`` objects by content key; safe to share within one event loop.

    All methods are synchronous and short (no await inside), so concurrent tasks of one loop
    cannot interleave within a call. Only good answers are stored: a response with no text
    and no tool calls is refused.
    """

    def __init__(self, path: Path, *, batch_size: int = 256, flush_interval_s: float = 0.5) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.hits = 0
        """Successful lookups so far."""
        self.misses = 0
        """Failed lookups so far."""
        self._pending: dict[str, bytes] = {}
        self._last_flush = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._disabled = False
        self._conn: sqlite3.Connection | None = self._open()

    def _open(self) -> sqlite3.Connection | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return _connect_waiting(self.path)
        except sqlite3.OperationalError as exc:  # locked or unopenable: not corrupted
            log.warning("response cache %s disabled: %s", self.path, exc)
            return None
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.warning(
                "response cache %s is unreadable (%s); moved it to %s and starting empty",
                self.path,
                exc,
                aside.name,
            )
            try:
                self.path.replace(aside)
                for suffix in ("-wal", "-shm"):
                    side = self.path.with_name(self.path.name + suffix)
                    if side.exists():
                        side.replace(aside.with_name(aside.name + suffix))
                return _connect(self.path)
            except (OSError, sqlite3.DatabaseError) as exc2:
                log.warning("response cache disabled: %s", exc2)
                return None

    @staticmethod
    def key(identity: dict[str, Any], request: ChatRequest, *, extra: Any = None) -> str:
        """Hex sha256 of what determines the answer; ``extra`` (e.g. a repeat index) salts it."""
        variables = request.variables
        if variables:
            variables = {k: v for k, v in variables.items() if k not in _IDENTITY_VARIABLES}
        data: dict[str, Any] = {
            "v": _KEY_VERSION,
            "identity": identity,
            "model": request.model,
            "params": request.params,
            "messages": [m.model_dump(mode="json", exclude_none=True) for m in request.messages],
            "tools": request.tools,
        }
        if variables:
            data["variables"] = variables
        if extra is not None:
            data["extra"] = extra
        blob = orjson.dumps(
            data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
        )
        return hashlib.sha256(blob).hexdigest()

    def get(self, key: str) -> ChatResponse | None:
        """The cached response for ``key``, or ``None`` on a miss."""
        blob = self._pending.get(key)
        if blob is None and self._conn is not None:
            try:
                row = self._conn.execute(
                    "SELECT value FROM responses WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.Error as exc:
                self._fail(exc)
                row = None
            blob = row[0] if row else None
        if blob is None:
            self.misses += 1
            return None
        try:
            response = ChatResponse.model_validate_json(blob)
        except ValidationError:
            self.misses += 1  # written by an incompatible version: treat as a miss
            return None
        self.hits += 1
        return response

    def put(self, key: str, response: ChatResponse) -> None:
        """Store a good answer (refuses one with empty text and no tool calls)."""
        if self._conn is None or (not response.text and not response.tool_calls):
            return
        try:
            blob = response.model_dump_json().encode()
        except (ValueError, TypeError):  # an unserialisable raw payload: keep the answer
            blob = response.model_copy(update={"raw": None}).model_dump_json().encode()
        self._pending[key] = mask_secrets_bytes(blob)  # a secret the bot echoed stays out
        if (
            len(self._pending) >= self.batch_size
            or time.monotonic() - self._last_flush >= self.flush_interval_s
        ):
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self.flush_interval_s, self.flush)

    def flush(self) -> None:
        """Write buffered puts in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_flush = time.monotonic()
        if not self._pending or self._conn is None:
            return
        now = time.time()
        rows = [(k, v, now) for k, v in self._pending.items()]
        self._pending.clear()
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                    rows,
                )
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc):
                self._fail(exc)
                return
            for key, value, _ in rows:  # another process held the lock: retry next flush
                self._pending.setdefault(key, value)
            log.debug("response cache %s is busy; %d puts kept for later", self.path, len(rows))
        except sqlite3.Error as exc:
            self._fail(exc)

    def _fail(self, exc: sqlite3.Error) -> None:
        if not self._disabled:
            log.warning("response cache %s failed (%s); continuing without it", self.path, exc)
        self._disabled = True
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __len__(self) -> int:
        """Number of stored responses (pending writes included)."""
        self.flush()
        if self._conn is None:
            return 0
        return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Flush pending writes and close the file."""
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(_SCHEMA)
        conn.execute("SELECT key FROM responses LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    # `with conn:` batches take the write lock at BEGIN, where the busy timeout applies (a
    # deferred transaction upgrading later can fail at once when another process wrote).
    conn.isolation_level = "IMMEDIATE"
    return conn


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _connect_waiting(path: Path, attempts: int = 5) -> sqlite3.Connection:
    """``_connect``, retried a few times while another process holds the file locked."""
    for attempt in range(attempts):
        try:
            return _connect(path)
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


def open_cache(workspace_root: Path) -> ResponseCache:
    """The workspace's response cache, ``<workspace>/cache/responses.sqlite``."""
    return ResponseCache(Path(workspace_root) / "cache" / CACHE_FILE)
