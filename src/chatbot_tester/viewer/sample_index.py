"""Page through a run's samples without holding them: a byte-offset index in SQLite.

A run directory holds ``dataset.jsonl``, ``results.jsonl`` (one record per sample and
repeat) and ``scores.jsonl``. ``SampleIndex`` scans them once, in a background thread, into
a throw-away SQLite file (one row per record with its status, latency and the byte offsets
of its lines), so the server's memory does not grow with the run: a page is a query, and a
drill-down reads three lines by offset. Until the scan is done, ``page`` answers from the
head of the files (the first page of a 1,000,000-sample run opens at once). A run archived
as Parquet (``results.parquet``/``scores.parquet`` without the JSONL) is read through
``run_files``: its locators are row numbers, and a drill-down reads one row group.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

from chatbot_tester.common.artifacts.run_files import iter_rows, row_at
from chatbot_tester.common.artifacts.workspace import DATASET, RESULTS, SCORES
from chatbot_tester.common.schemas import RunRecord, Score, TestSample

__all__ = ["SampleIndex"]

_HEAD_SCAN_LINES = 20_000
"""Lines of scores.jsonl read for a page served before the index is built."""
_PREVIEW = 300
"""Characters of the question and answer kept in a page row."""
_BATCH = 5_000


def _preview(text: object) -> str:
    if not isinstance(text, str):
        return ""
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "…"


def _record_row(rec: dict[str, Any]) -> tuple[str, int, str | None, str | None, Any, Any, Any]:
    response = rec.get("response") or {}
    error = rec.get("error") or {}
    return (
        str(rec.get("sample_id", "")),
        int(rec.get("repeat") or 0),
        _preview(response.get("text")) if isinstance(response, dict) else None,
        (error.get("kind") or "error") if isinstance(error, dict) and error else None,
        rec.get("latency_ms"),
        rec.get("ttft_ms"),
        rec.get("cost_usd"),
    )


def _status(error: str | None, verdicts: list[bool | None]) -> str:
    if error is not None:
        return "error"
    if any(v is False for v in verdicts):
        return "fail"
    if any(v is True for v in verdicts):
        return "pass"
    return "unscored"


class SampleIndex:
    """The samples of one run directory, pageable and searchable, built once in the background."""

    def __init__(self, run_dir: Path, *, stamp: object = None) -> None:
        self.run_dir = Path(run_dir)
        self.stamp = stamp
        """What the run's files looked like when the scan started (the owner compares it)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="ct-view-")
        self._db_path = Path(self._tmp.name) / "samples.sqlite"
        self._ready = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._build, name="ct-view-index", daemon=True)
        self._thread.start()

    # -- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        try:
            db = sqlite3.connect(self._db_path)
            try:
                self._fill(db)
            finally:
                db.close()
        except Exception as exc:  # reported through `state`, never raised into a thread
            self._error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    def _fill(self, db: sqlite3.Connection) -> None:
        db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE samples(sid TEXT PRIMARY KEY, pos INTEGER, off INTEGER, q TEXT,
                                 tags TEXT);
            CREATE TABLE records(n INTEGER PRIMARY KEY, sid TEXT, rep INTEGER, off INTEGER,
                                 answer TEXT, error TEXT, latency REAL, ttft REAL, cost REAL,
                                 status TEXT);
            CREATE TABLE scores(sid TEXT, rep INTEGER, off INTEGER, passed INTEGER);
            """
        )
        batch: list[tuple[Any, ...]] = []
        for pos, (off, data) in enumerate(iter_rows(self.run_dir / DATASET, TestSample)):
            tags = data.get("tags") or []
            batch.append(
                (str(data.get("id")), pos, off, _preview(data.get("input")), " ".join(tags))
            )
            if len(batch) >= _BATCH:
                db.executemany("INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?)", batch)
                batch.clear()
        db.executemany("INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?)", batch)
        batch = []
        for off, data in iter_rows(self.run_dir / SCORES, Score):
            passed = data.get("passed")
            batch.append(
                (
                    data.get("sample_id"),
                    data.get("repeat") or 0,
                    off,
                    None if passed is None else int(passed),
                )
            )
            if len(batch) >= _BATCH:
                db.executemany("INSERT INTO scores VALUES (?,?,?,?)", batch)
                batch.clear()
        db.executemany("INSERT INTO scores VALUES (?,?,?,?)", batch)
        db.execute("CREATE INDEX scores_key ON scores(sid, rep)")
        batch = []
        for n, (off, data) in enumerate(iter_rows(self.run_dir / RESULTS, RunRecord)):
            sid, rep, answer, error, latency, ttft, cost = _record_row(data)
            batch.append((n, sid, rep, off, answer, error, latency, ttft, cost))
            if len(batch) >= _BATCH:
                self._insert_records(db, batch)
                batch.clear()
        self._insert_records(db, batch)
        db.execute("CREATE INDEX records_status ON records(status)")
        db.commit()

    @staticmethod
    def _insert_records(db: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
        db.executemany(
            "INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,"
            " CASE WHEN ?6 IS NOT NULL THEN 'error'"
            " WHEN EXISTS (SELECT 1 FROM scores s WHERE s.sid=?2 AND s.rep=?3 AND s.passed=0)"
            "  THEN 'fail'"
            " WHEN EXISTS (SELECT 1 FROM scores s WHERE s.sid=?2 AND s.rep=?3 AND s.passed=1)"
            "  THEN 'pass' ELSE 'unscored' END)",
            batch,
        )

    # -- reading ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the scan finished (successfully or not)."""
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the scan; True when it finished."""
        return self._ready.wait(timeout)

    def _db(self) -> sqlite3.Connection:
        if self._error is not None:
            raise RuntimeError(f"could not index {self.run_dir.name}: {self._error}")
        db = sqlite3.connect(f"file:{self._db_path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        return db

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        status: str | None = None,
        query: str | None = None,
        sort: str = "position",
    ) -> dict[str, Any]:
        """Rows ``offset..offset+limit`` matching ``status``/``query``, with the match count."""
        limit = max(1, min(limit, 500))
        if not self.ready:
            if status or query or offset:
                return {"ready": False, "total": None, "rows": []}
            return {"ready": False, "total": None, "rows": self._head(limit)}
        where, args = [], []
        if status:
            where.append("r.status = ?")
            args.append(status)
        if query:
            where.append(
                "(r.sid LIKE ? ESCAPE '\\' OR s.q LIKE ? ESCAPE '\\' OR r.answer LIKE ? ESCAPE '\\' OR s.tags LIKE ? ESCAPE '\\')"
            )
            like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [like, like, like, like]
        order = {
            "position": "s.pos, r.rep",
            "latency": "r.latency DESC",
            "cost": "r.cost DESC",
            "id": "r.sid, r.rep",
        }.get(sort, "s.pos, r.rep")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        base = f"FROM records r LEFT JOIN samples s ON s.sid = r.sid {clause}"
        db = self._db()
        try:
            total = db.execute(f"SELECT count(*) {base}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT r.sid, r.rep, r.status, r.answer, r.error, r.latency, r.ttft, r.cost, s.q,"
                f" s.tags {base} ORDER BY {order} LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
            counts = dict(db.execute("SELECT status, count(*) FROM records GROUP BY status"))
        finally:
            db.close()
        return {
            "ready": True,
            "total": total,
            "counts": counts,
            "rows": [
                {
                    "id": r["sid"],
                    "repeat": r["rep"],
                    "status": r["status"],
                    "question": r["q"] or "",
                    "answer": r["answer"],
                    "error": r["error"],
                    "latency_ms": r["latency"],
                    "ttft_ms": r["ttft"],
                    "cost_usd": r["cost"],
                    "tags": (r["tags"] or "").split(),
                }
                for r in rows
            ],
        }

    def quantiles(self, column: str, points: int = 50) -> list[float]:
        """``points + 1`` evenly spaced quantiles (min to max) of ``latency``/``ttft``/``cost``."""
        if column not in ("latency", "ttft", "cost") or not self.wait(30):
            return []
        db = self._db()
        try:
            n = db.execute(f"SELECT count({column}) FROM records").fetchone()[0]
            if not n:
                return []
            want = sorted({round(i * (n - 1) / points) for i in range(points + 1)})
            out, nxt = [], 0
            cursor = db.execute(
                f"SELECT {column} FROM records WHERE {column} IS NOT NULL ORDER BY {column}"
            )
            for i, (value,) in enumerate(cursor):
                if i == want[nxt]:
                    out.append(float(value))
                    nxt += 1
                    if nxt == len(want):
                        break
            return out
        finally:
            db.close()

    def _head(self, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` records, read straight from the files (before the index is built)."""
        rows: list[dict[str, Any]] = []
        keys: set[tuple[str, int]] = set()
        for _off, data in iter_rows(self.run_dir / RESULTS, RunRecord):
            sid, rep, answer, error, latency, ttft, cost = _record_row(data)
            keys.add((sid, rep))
            rows.append({"id": sid, "repeat": rep, "answer": answer, "error": error,
                         "latency_ms": latency, "ttft_ms": ttft, "cost_usd": cost})  # fmt: skip
            if len(rows) >= limit:
                break
        verdicts: dict[tuple[str, int], list[bool | None]] = {k: [] for k in keys}
        for n, (_off, data) in enumerate(iter_rows(self.run_dir / SCORES, Score)):
            if n >= _HEAD_SCAN_LINES:
                break
            key = (str(data.get("sample_id")), int(data.get("repeat") or 0))
            if key in verdicts:
                verdicts[key].append(data.get("passed"))
        questions: dict[str, str] = {}
        wanted = {sid for sid, _ in keys}
        for n, (_off, sample) in enumerate(iter_rows(self.run_dir / DATASET, TestSample)):
            if n >= _HEAD_SCAN_LINES or len(questions) == len(wanted):
                break
            if sample.get("id") in wanted:
                questions[str(sample["id"])] = _preview(sample.get("input"))
        for row in rows:
            row["status"] = _status(row["error"], verdicts[(row["id"], row["repeat"])])
            row["question"] = questions.get(row["id"], "")
            row["tags"] = []
        return rows

    def sample(self, sample_id: str, repeat: int) -> dict[str, Any] | None:
        """Everything about one record: its sample, the record and its scores (whole lines)."""
        if not self.wait(30):
            return None
        db = self._db()
        try:
            rec = db.execute(
                "SELECT off FROM records WHERE sid = ? AND rep = ?", (sample_id, repeat)
            ).fetchone()
            smp = db.execute("SELECT off FROM samples WHERE sid = ?", (sample_id,)).fetchone()
            offs = [r[0] for r in db.execute(
                "SELECT off FROM scores WHERE sid = ? AND rep = ? ORDER BY off", (sample_id, repeat)
            )]  # fmt: skip
        finally:
            db.close()
        if rec is None and smp is None:
            return None
        return {
            "sample": row_at(self.run_dir / DATASET, TestSample, smp[0]) if smp else None,
            "record": row_at(self.run_dir / RESULTS, RunRecord, rec[0]) if rec else None,
            "scores": [s for s in (row_at(self.run_dir / SCORES, Score, o) for o in offs) if s],
        }

    def close(self) -> None:
        """Forget the index (its temporary file goes with it)."""
        self._thread.join(timeout=5)
        self._tmp.cleanup()
