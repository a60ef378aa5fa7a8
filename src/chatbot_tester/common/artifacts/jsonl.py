"""Streaming JSONL: lazy reading with file:line errors, crash-safe appends, torn-tail repair.

Datasets, results and scores are JSONL files, one pydantic model per line. Reading never
loads a whole file. Appends write one complete line per ``os.write`` so a crash leaves at
most one torn last line, which ``repair_torn_tail`` removes before a resume.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from chatbot_tester.common.artifacts.storage import atomic_open, write_all
from chatbot_tester.common.validation import (
    Problem,
    describe_validation_error,
    format_row_error,
    unknown_key_hint,
)
from chatbot_tester.errors import DatasetError

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "JsonlAppender",
    "Problem",
    "describe_validation_error",
    "dump_line",
    "format_row_error",
    "iter_json_objects",
    "iter_jsonl",
    "max_record_bytes",
    "repair_torn_tail",
    "unknown_key_hint",
    "write_jsonl_atomic",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_BOM = b"\xef\xbb\xbf"
_CHUNK = 64 * 1024


def dump_line(model: BaseModel) -> bytes:
    """One compact JSON line ending in a newline.

    Uses pydantic's Rust serializer straight to bytes: measured ~3.3 us for a typical
    RunRecord versus ~3.7 us for ``model_dump_json().encode()`` and ~5 us for
    ``orjson.dumps(model_dump(mode="json"))``.
    """
    return type(model).__pydantic_serializer__.to_json(model) + b"\n"


DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
"""Longest JSONL line read back (records, scores, datasets): 64 MiB."""


def max_record_bytes() -> int:
    """The line limit of JSONL reads (env ``CHATBOT_TESTER_MAX_RECORD_BYTES`` overrides)."""
    try:
        value = int(float(os.environ.get("CHATBOT_TESTER_MAX_RECORD_BYTES") or 0))
    except ValueError:
        value = 0
    return value if value > 0 else DEFAULT_MAX_RECORD_BYTES


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, stripped line) of every non-blank line, read lazily."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally, generator-owned
    except FileNotFoundError:
        raise DatasetError("file not found", file=path) from None
    except IsADirectoryError:
        raise DatasetError("is a directory, expected a JSONL file", file=path) from None
    limit = max_record_bytes()
    try:
        line_no = 0
        while raw := fh.readline(limit + 1):
            line_no += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                raise DatasetError(
                    f"line is longer than {limit} bytes (a corrupt or foreign file? "
                    "raise CHATBOT_TESTER_MAX_RECORD_BYTES if such lines are expected)",
                    file=path,
                    line=line_no,
                )
            line = raw.strip()
            if line_no == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :].strip()
            if line:
                yield line_no, line
    finally:
        fh.close()


def _parse(path: Path, line_no: int, line: bytes, *, unique_keys: bool = False) -> dict[str, Any]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DatasetError(f"bad JSON: {exc}", file=path, line=line_no) from None
    if not isinstance(obj, dict):
        raise DatasetError(
            f"expected a JSON object per line, got {type(obj).__name__}", file=path, line=line_no
        )
    if unique_keys and _may_repeat_keys(line, obj):
        key = _duplicate_key(line)
        if key is not None:
            raise DatasetError(
                f"key {_quote_key(key)} appears twice in one object; keep one of them",
                file=path,
                line=line_no,
            )
    return obj


def _may_repeat_keys(line: bytes, obj: dict[str, Any]) -> bool:
    """False when ``line`` certainly has no key twice in one object (the cheap, common case)."""
    colons = line.count(b":")
    if colons == len(obj):  # flat object, no colon inside any string
        return False
    return colons != _colons(obj) or b"\\u003" in line


def _colons(value: dict[str, Any] | list[Any]) -> int:
    r"""Keys plus ``:`` characters in every key and string inside ``value``.

    A JSON text has one ``:`` per key written plus those inside its strings, so the count of
    ``:`` bytes in the line equals this number exactly when no key was written twice (a
    duplicate drops a key and its value from the parsed object). An escaped colon
    (``\u003a``) breaks the equality, so such lines take the slow path.
    """
    count = 0
    if isinstance(value, dict):
        count = len(value)
        for key, item in value.items():
            if ":" in key:
                count += key.count(":")
            if isinstance(item, str):
                if ":" in item:
                    count += item.count(":")
            elif isinstance(item, (dict, list)):
                count += _colons(item)
        return count
    for item in value:
        if isinstance(item, str):
            if ":" in item:
                count += item.count(":")
        elif isinstance(item, (dict, list)):
            count += _colons(item)
    return count


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return obj


def _duplicate_key(line: bytes) -> str | None:
    """The first key repeated within one object of ``line`` (slow path, stdlib json)."""
    try:
        json.loads(line, object_pairs_hook=_unique_pairs)
    except _DuplicateKeyError as exc:
        return exc.key
    except ValueError:  # pragma: no cover - orjson accepted it
        return None
    return None


def _quote_key(key: str) -> str:
    """``key`` quoted for a message: control characters escaped, long keys cut."""
    text = key if len(key) <= 60 else key[:57] + "..."
    return f"'{text}'" if text.isprintable() else ascii(text)


def iter_json_objects(
    path: Path, *, unique_keys: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_no, object)`` for each non-blank line; ``DatasetError`` names file:line.

    With ``unique_keys`` a key repeated within one object (JSON parsers silently keep the
    last value) is an error naming the key; the dataset reader uses it for hand-written
    files. The check costs a byte count and a walk of the parsed object (about 1 us per
    typical sample); only a line whose counts disagree is parsed a second time.
    """
    path = Path(path)
    for line_no, line in _lines(path):
        yield line_no, _parse(path, line_no, line, unique_keys=unique_keys)


def iter_jsonl(path: Path, model: type[M], *, skip_torn_tail: bool = False) -> Iterator[M]:
    """Stream ``model`` instances from a JSONL file, one per non-blank line.

    Bad JSON and validation failures raise ``DatasetError`` with ``file`` and ``line`` set and
    a message naming the field. With ``skip_torn_tail`` an unparseable last line that has no
    final newline (a write cut short by a crash) is skipped instead of raised.
    """
    path = Path(path)
    lines = _lines(path)
    pending = next(lines, None)
    while pending is not None:
        line_no, line = pending
        pending = next(lines, None)
        try:
            yield model.model_validate_json(line)
            continue
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            not_an_object = first["type"] == "model_type" and not first["loc"]
            if first["type"] != "json_invalid" and not not_an_object:
                raise DatasetError(format_row_error(exc, model), file=path, line=line_no) from None
        if pending is None and skip_torn_tail and not _ends_with_newline(path):
            log.warning("%s:%d: skipping a torn last line", path, line_no)
            return
        obj = _parse(path, line_no, line)  # raises the precise JSON error
        try:  # pragma: no cover - pydantic and orjson disagree on validity
            yield model.model_validate(obj)
        except ValidationError as exc:  # pragma: no cover
            raise DatasetError(format_row_error(exc, model), file=path, line=line_no) from None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


class JsonlAppender:
    """Append-only JSONL writer: one ``os.write`` of one complete line per record.

    There is no user-space buffer, so every record is in the OS page cache when ``write``
    returns (it survives a crash of the process); ``fsync=True`` also survives power loss,
    at the cost of one fsync per record. Opening a file whose last line is torn repairs it
    first, so a new record is never glued onto a partial one.
    """

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            removed = repair_torn_tail(self.path)
            if removed:
                log.warning("%s: removed a torn last line (%d bytes)", self.path, removed)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.count = 0
        """Records written by this appender."""

    def write(self, model: BaseModel) -> None:
        """Append ``model`` as one line."""
        self.write_bytes(type(model).__pydantic_serializer__.to_json(model) + b"\n")

    def write_bytes(self, line: bytes) -> None:
        """Append one pre-serialised line (must end with a newline and contain no other)."""
        if self._fd is None:
            raise ValueError(f"{self.path}: appender is closed")
        write_all(self._fd, line)
        if self.fsync:
            os.fsync(self._fd)
        self.count += 1

    def write_lines(self, lines: list[bytes]) -> None:
        """Append several pre-serialised lines (each ending with its newline) in one ``os.write``.

        Used by writers that collect the records completed at the same moment: one system
        call instead of one per record, still no user-space buffer once this returns.
        """
        if self._fd is None:
            raise ValueError(f"{self.path}: appender is closed")
        if not lines:
            return
        write_all(self._fd, lines[0] if len(lines) == 1 else b"".join(lines))
        if self.fsync:
            os.fsync(self._fd)
        self.count += len(lines)

    def sync(self) -> None:
        """Force written records to disk (one fsync)."""
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the file (fsynced first when ``fsync=True``); idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def closed(self) -> bool:
        """True after ``close``."""
        return self._fd is None

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _last_line_start(fh: BinaryIO, end: int) -> int:
    """Offset just after the last newline strictly before ``end`` (0 if none), reading backwards."""
    pos = end
    while pos > 0:
        start = max(0, pos - _CHUNK)
        fh.seek(start)
        chunk = fh.read(pos - start)
        idx = chunk.rfind(b"\n")
        if idx != -1:
            return start + idx + 1
        pos = start
    return 0


def _is_json_object(data: bytes) -> bool:
    data = data.strip()
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return False


def repair_torn_tail(path: Path) -> int:
    """Drop an incomplete last line of a JSONL file; return the number of bytes removed.

    The last line is incomplete when it is not a JSON object (a write cut short, or NUL
    bytes left by a power loss). A last line that is a complete object but lacks only its
    newline keeps its data: the newline is added and 0 is returned. Earlier bytes are never
    touched; only the file's reads are from the end, so this is cheap on large files.
    """
    path = Path(path)
    with open(path, "r+b") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return 0
        fh.seek(size - 1)
        has_newline = fh.read(1) == b"\n"
        end = size - 1 if has_newline else size
        start = _last_line_start(fh, end)
        fh.seek(start)
        tail = fh.read(end - start)
        if not tail.strip() and has_newline:
            return 0
        if tail.strip() and _is_json_object(tail):
            if not has_newline:
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
            return 0
        fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())
        return size - start


def write_jsonl_atomic(path: Path, models: Iterable[BaseModel]) -> int:
    """Write ``models`` as a JSONL file via temp file + rename; return the number of lines.

    Streams: ``models`` may be a generator over more records than fit in memory.
    """
    count = 0
    with atomic_open(Path(path)) as fh:
        for model in models:
            fh.write(type(model).__pydantic_serializer__.to_json(model))
            fh.write(b"\n")
            count += 1
    return count
