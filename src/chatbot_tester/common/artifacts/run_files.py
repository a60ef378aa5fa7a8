"""The results and scores of a finished run, whatever their format: JSONL or Parquet.

A run writes ``results.jsonl`` and ``scores.jsonl`` (the source of truth while it is being
written: resume, crash safety); ``evaluator.report.columnar`` adds ``results.parquet`` and
``scores.parquet`` beside them. An archived run may keep only the Parquet files (the JSONL
deleted to save space, or a run copied to or from an object store). Every reader of a
finished run goes through here: ``locate`` picks the JSONL file when it is there, else its
Parquet twin; ``iter_models`` and ``iter_rows`` stream either one (Parquet a row group at a
time), so callers never branch on the format. ``restore_jsonl`` brings an archive's JSONL
back before a stage appends to it (a resume, a re-evaluation); ``compact_run`` makes the
archive on purpose (``chatbot-tester runs compact``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from chatbot_tester.common.artifacts.jsonl import iter_jsonl, write_jsonl_atomic
from chatbot_tester.errors import ConfigError, UsageError

__all__ = [
    "compact_run",
    "iter_models",
    "iter_rows",
    "locate",
    "parquet_twin",
    "require",
    "restore_jsonl",
    "row_at",
    "twins",
]

M = TypeVar("M", bound=BaseModel)

PARQUET = ".parquet"


def parquet_twin(path: Path) -> Path:
    """``results.parquet`` for ``results.jsonl`` (a Parquet path is its own twin)."""
    return Path(path).with_suffix(PARQUET)


def twins(path: Path) -> tuple[Path, Path]:
    """The JSONL file and its Parquet twin, in the order they are preferred."""
    path = Path(path)
    jsonl = path.with_suffix(".jsonl") if path.suffix == PARQUET else path
    return jsonl, parquet_twin(jsonl)


def locate(path: Path) -> Path | None:
    """``path`` when it is a file, else its Parquet twin when that is, else ``None``.

    A ``.parquet`` path is taken as it is (``None`` when missing).
    """
    path = Path(path)
    if path.suffix == PARQUET:
        return path if path.is_file() else None
    for candidate in twins(path):
        if candidate.is_file():
            return candidate
    return None


def require(path: Path, what: str, hint: str = "") -> Path:
    """``locate(path)``, or one ``UsageError`` line naming both files that are missing.

    A Parquet file found needs pyarrow: ``ConfigError`` with the install hint otherwise.
    """
    found = locate(path)
    if found is None:
        jsonl, parquet = twins(path)
        raise UsageError(
            f"{jsonl.parent}: no {what} ({jsonl.name} or {parquet.name}){hint and ': ' + hint}"
        )
    if found.suffix == PARQUET:
        from chatbot_tester.common.artifacts.columnar import check_pyarrow

        check_pyarrow(str(found))
    return found


def iter_models(path: Path, model: type[M], *, skip_torn_tail: bool = True) -> Iterator[M]:
    """``model`` instances of ``locate(path)``, streamed; nothing when neither file exists."""
    found = locate(path)
    if found is None:
        return iter(())
    if found.suffix == PARQUET:
        from chatbot_tester.common.artifacts.columnar import read_records

        return read_records(found, model)
    return iter_jsonl(found, model, skip_torn_tail=skip_torn_tail)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as fh:
        pos = 0
        for line in fh:
            if line.strip():
                data = _load(line)
                if data is not None:
                    yield pos, data
            pos += len(line)


def _load(line: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def iter_rows(path: Path, model: type[BaseModel]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(locator, row as a JSON object) of ``locate(path)``, unvalidated; bad lines skipped.

    The locator is a byte offset in a JSONL file and a row number in a Parquet file: hand it
    back to ``row_at`` with the same ``path`` to read that row again.
    """
    found = locate(path)
    if found is None:
        return iter(())
    if found.suffix == PARQUET:
        from chatbot_tester.common.artifacts import columnar

        return columnar.iter_rows(found, model)
    return _jsonl_rows(found)


def row_at(path: Path, model: type[BaseModel], locator: int) -> dict[str, Any] | None:
    """The row at ``locator`` (from ``iter_rows``) of ``locate(path)``."""
    found = locate(path)
    if found is None:
        return None
    if found.suffix == PARQUET:
        from chatbot_tester.common.artifacts import columnar

        return columnar.row_at(found, model, locator)
    with found.open("rb") as fh:
        fh.seek(locator)
        return _load(fh.readline())


def restore_jsonl(path: Path, model: type[BaseModel]) -> bool:
    """Write ``path`` (a JSONL file) back from its Parquet twin when only the twin exists.

    For the stages that append to the JSONL (a resumed run, an evaluation reusing scores):
    they then go on from the archived rows instead of starting again. True when restored.
    """
    path = Path(path)
    twin = parquet_twin(path)
    if path.exists() or not twin.is_file():
        return False
    from chatbot_tester.common.artifacts.columnar import read_records

    write_jsonl_atomic(path, read_records(twin, model))
    return True


def compact_run(run_dir: Path, files: dict[str, type[BaseModel]]) -> dict[str, int]:
    """Archive a finished run as Parquet: write each ``name.parquet``, check, delete the JSONL.

    ``files`` maps JSONL names (``results.jsonl``, ``scores.jsonl``) to their model. Each
    Parquet file is written afresh from its JSONL (so it cannot be stale), then its row count
    is checked against the JSONL's before the JSONL is deleted; a file already archived is
    left alone. Returns the rows of each file. ``ConfigError`` if the counts differ.
    """
    from chatbot_tester.common.artifacts.columnar import check_pyarrow, write_columnar

    check_pyarrow("runs compact")
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for name, model in files.items():
        jsonl = Path(run_dir) / name
        twin = parquet_twin(jsonl)
        if not jsonl.is_file():
            if twin.is_file():
                counts[name] = int(pq.ParquetFile(twin).metadata.num_rows)
            continue
        expected = sum(1 for _ in iter_jsonl(jsonl, model, skip_torn_tail=True))
        write_columnar(jsonl, twin, model)
        written = int(pq.ParquetFile(twin).metadata.num_rows)
        if written != expected:
            raise ConfigError(
                f"{twin}: {written} rows but {jsonl.name} has {expected}; kept {jsonl.name}"
            )
        jsonl.unlink()
        counts[name] = written
    return counts
