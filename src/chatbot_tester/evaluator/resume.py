"""Which scores in ``scores.jsonl`` may be reused on resume: fingerprints and compaction.

Every Score carries a *fingerprint*: a hash of the metric's configuration (type, label,
options, only_tags; for assertions the assertion itself; for judge metrics the judge backend,
model and params) and of the scored record's identity (sample id, repeat, turn, and the
record's start/finish times and attempts, so a re-sent record gets a new identity). On resume
a score is reused only when its fingerprint equals the one the current configuration gives
the current record; everything else is scored again.

``scores.jsonl`` is appended to while scoring. When the evaluation finishes, stale lines
(other fingerprints, scores from before fingerprints existed, retried errors, duplicates)
are dropped by one atomic rewrite (``ScoreLedger.compact``), so the file holds exactly one
score per (sample, repeat, turn, metric) and every reader (reports, ``compare``) sees the
current verdicts. Among lines with the same fingerprint the first verdict wins: it is the one
that was reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from pydantic import ValidationError
from pydantic_core import TzInfo

from chatbot_tester.common.artifacts.jsonl import (
    format_row_error,
    iter_jsonl,
    repair_torn_tail,
    write_jsonl_atomic,
)
from chatbot_tester.common.hashing import sha256_bytes, stable_hash
from chatbot_tester.common.schemas import RunRecord, Score
from chatbot_tester.errors import DatasetError

_BOM = b"\xef\xbb\xbf"

__all__ = [
    "FingerprintHead",
    "ScoreLedger",
    "metric_fingerprint",
    "record_identity",
    "retry_on_resume",
    "score_fingerprint",
    "score_tail",
]


def metric_fingerprint(spec: dict[str, Any], judge: dict[str, Any] | None = None) -> str:
    """Hash of a metric's configuration (``judge``: backend/model/params of a judge metric)."""
    return stable_hash({"metric": spec, "judge": judge})


def record_identity(record: RunRecord) -> str:
    """Hash identifying one version of a record: a re-sent record gets a different identity.

    Times count only when the file carries them (a defaulted time would be "now" on every
    read); the answer text and error kind make hand-written records without times safe too.
    """
    given = record.model_fields_set
    return stable_hash(
        [
            record.sample_id,
            record.repeat,
            _when(record.started_at) if "started_at" in given else None,
            _when(record.finished_at) if "finished_at" in given else None,
            record.attempts,
            record.response.text if record.response is not None else None,
            record.error.kind.value if record.error is not None else None,
            len(record.turns) if record.turns is not None else None,
        ]
    )


_FIXED_ZONES = (timezone, TzInfo)


def _when(moment: datetime) -> datetime | str:
    """``moment.isoformat()``, or ``moment`` itself when orjson writes exactly that string.

    orjson's RFC 3339 text equals ``isoformat()`` for naive times and fixed offsets in whole
    minutes (not for offsets with seconds), and costs a fraction of it.
    """
    zone = moment.tzinfo
    if zone is timezone.utc:
        return moment
    if zone is None or type(zone) in _FIXED_ZONES:
        offset = moment.utcoffset()
        if offset is None or (not offset.microseconds and not offset.seconds % 60):
            return moment
    return moment.isoformat()


def score_fingerprint(metric_fp: str, record_fp: str, turn: int | None) -> str:
    """The fingerprint of a score of ``metric_fp`` on one turn (or all) of ``record_fp``."""
    return sha256_bytes(f"{metric_fp}|{record_fp}|{'' if turn is None else turn}".encode())


class FingerprintHead:
    """``score_fingerprint`` with the metric's part hashed once: ``of(score_tail(...))``.

    The same digest (SHA-256 is fed the same bytes), about a quarter cheaper per score.
    """

    __slots__ = ("_head",)

    def __init__(self, metric_fp: str) -> None:
        self._head = hashlib.sha256(f"{metric_fp}|".encode())

    def of(self, tail: bytes) -> str:
        """The fingerprint of the score whose record part is ``tail`` (see ``score_tail``)."""
        digest = self._head.copy()
        digest.update(tail)
        return "sha256:" + digest.hexdigest()


def score_tail(record_fp: str, turn: int | None) -> bytes:
    """The record's part of a score fingerprint's input (for ``FingerprintHead.of``)."""
    return f"{record_fp}|{'' if turn is None else turn}".encode()


def retry_on_resume(score: Score) -> bool:
    """Metric failures (judge errors, crashes) are scored again; verdicts and "no answer" are kept."""
    return score.error is not None and not score.error.startswith("no answer")


def _short(fingerprint: str) -> int:
    """64 bits of a fingerprint: the in-memory key (collisions are negligible, memory small)."""
    return int(fingerprint[-16:], 16)


class ScoreLedger:
    """The reusable scores of ``scores.jsonl`` (by fingerprint) and the lines to keep.

    Call ``reuse(fp)`` for every score the evaluation needs: it returns the valid score on
    file (and marks that line as kept), or ``None``. Only a 64-bit key and the line's byte
    offset are held per score; a reused line is read back and validated when asked for.
    ``compact()`` then rewrites the file without the lines nobody asked for, when there are
    any.
    """

    def __init__(self, path: Path, *, resume: bool) -> None:
        self.path = path
        self._done: dict[int, tuple[int, int, int]] = {}
        """Short fingerprint -> (line index, byte offset, 1-based line number)."""
        self._keep: set[int] = set()
        self._file: BinaryIO | None = None
        self.lines = 0
        """Scores on file before this evaluation (after torn-tail repair)."""
        if not resume:
            path.unlink(missing_ok=True)
            return
        if not path.exists():
            return
        repair_torn_tail(path)
        for index, (offset, line_no, line) in enumerate(_offsets(path)):
            self.lines = index + 1
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DatasetError(f"invalid JSON: {exc}", file=path, line=line_no) from None
            fp = obj.get("fingerprint") if isinstance(obj, dict) else None
            if not isinstance(fp, str) or _retry(obj.get("error")):
                continue
            try:
                key = _short(fp)
            except ValueError:  # a hand-edited line: never reused
                continue
            self._done.setdefault(key, (index, offset, line_no))  # the first verdict wins

    @property
    def reusable(self) -> bool:
        """Whether any score on file may be reused (else ``reuse`` always returns ``None``)."""
        return bool(self._done)

    @property
    def reused(self) -> int:
        """Scores reused so far."""
        return len(self._keep)

    def reuse(self, fingerprint: str) -> Score | None:
        """The valid score with ``fingerprint`` on file (it is then kept), else ``None``."""
        found = self._done.get(_short(fingerprint))
        if found is None:
            return None
        index, offset, line_no = found
        if self._file is None:
            self._file = self.path.open("rb")
        self._file.seek(offset)
        line = self._file.readline()
        try:
            score = Score.model_validate_json(line)
        except ValidationError as exc:
            raise DatasetError(format_row_error(exc, Score), file=self.path, line=line_no) from None
        if score.fingerprint != fingerprint:  # a 64-bit collision: score it again
            return None
        self._keep.add(index)
        return score

    def close(self) -> None:
        """Close the handle used to read reused scores."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def compact(self) -> int:
        """Drop the old lines that were not reused (atomic rewrite); returns lines dropped."""
        self.close()
        dropped = self.lines - len(self._keep)
        if dropped <= 0:
            return 0
        keep, old = self._keep, self.lines

        def kept() -> Iterator[Score]:
            for index, score in enumerate(iter_jsonl(self.path, Score)):
                if index >= old or index in keep:
                    yield score

        write_jsonl_atomic(self.path, kept())
        self._done.clear()
        return dropped


def _retry(error: object) -> bool:
    """``retry_on_resume`` on a raw line's ``error`` field."""
    return error is not None and not str(error).startswith("no answer")


def _offsets(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(byte offset, 1-based line number, line) of every non-blank line, as ``iter_jsonl`` counts."""
    offset = 0
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            line = raw.strip()
            if line_no == 1 and line.startswith(_BOM):
                start, line = start + len(_BOM), line[len(_BOM) :].strip()
            if line:
                yield start, line_no, line
