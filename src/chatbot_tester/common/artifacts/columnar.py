"""Columnar copies of a run's results and scores: ``results.parquet`` and ``scores.parquet``.

Written after a completed evaluation when ``evaluator.report.columnar`` is on (the
``parquet`` extra: pyarrow). The JSONL files stay the source of truth (resume, crash
safety); the Parquet files mirror them row for row (a torn last line is left out).

Layout: one column per top-level field of ``RunRecord`` / ``Score``. Strings, integers,
floats and booleans keep their type; timestamps are ISO 8601 strings (as in the JSONL);
nested fields (``response``, ``turns``, ``conversation``, ``error``, ``usage``, ``details``)
are JSON strings, so the schema is fixed whatever the backend returns. Files are written in
row groups (bounded memory) to a temporary file renamed into place. ``read_records`` reads
either format back as models, ``iter_rows``/``row_at`` as plain dicts (the viewer), one row
group at a time; ``scan`` counts rows and repeats from the footer and one column. A run may
keep only the Parquet files (an archive): ``run_files`` picks whichever is there.
"""

from __future__ import annotations

import json
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import BaseModel

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.errors import ConfigError

__all__ = [
    "INSTALL_HINT",
    "check_pyarrow",
    "iter_rows",
    "read_records",
    "row_at",
    "scan",
    "write_columnar",
]

INSTALL_HINT = "columnar results need pyarrow: pip install 'chatbot-tester[parquet]'"
ROW_GROUP = 1000

M = TypeVar("M", bound=BaseModel)

_SCALARS = {str: "string", int: "int64", float: "float64", bool: "bool_"}


def check_pyarrow(where: str = "evaluator.report.columnar") -> None:
    """``ConfigError`` with the install hint when pyarrow cannot be imported."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ConfigError(f"{where}: {INSTALL_HINT}") from None


def _kind(annotation: Any) -> str:
    """``string``/``int64``/``float64``/``bool_`` for a scalar field, else ``json``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            annotation = args[0]
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if getattr(annotation, "__name__", "") == "datetime":
        return "string"
    return "json"


def _kinds(model: type[BaseModel]) -> dict[str, str]:
    return {name: _kind(field.annotation) for name, field in model.model_fields.items()}


def _row(obj: BaseModel, kinds: dict[str, str]) -> dict[str, Any]:
    data = obj.model_dump(mode="json")
    return {
        k: (None if data[k] is None else json.dumps(data[k], ensure_ascii=False))
        if kind == "json"
        else data[k]
        for k, kind in kinds.items()
    }


def write_columnar(source: Path, target: Path, model: type[BaseModel]) -> int:
    """Mirror ``source`` (JSONL, or Parquet: a copy) into the Parquet ``target`` atomically.

    Returns the row count; ``source == target`` leaves the file as it is.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = _kinds(model)
    if Path(source).resolve() == Path(target).resolve():
        return int(pq.ParquetFile(target).metadata.num_rows)
    schema = pa.schema(
        [(k, pa.string() if kind == "json" else getattr(pa, kind)()) for k, kind in kinds.items()]
    )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            batch: list[dict[str, Any]] = []
            for obj in read_records(source, model):
                batch.append(_row(obj, kinds))
                count += 1
                if len(batch) >= ROW_GROUP:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
            if batch or count == 0:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _json_lines(batch: Any, kinds: dict[str, str]) -> Iterator[bytes]:
    """Each row of a record batch as the JSON object its JSONL line held.

    Column by column (``to_pylist`` per column is far cheaper than per row); the JSON columns
    are spliced in as stored (``orjson.Fragment``), so a row costs one ``orjson.dumps``.
    """
    names = batch.schema.names
    columns = []
    for name, column in zip(names, batch.columns, strict=True):
        values = column.to_pylist()
        if kinds.get(name) == "json":
            values = [None if v is None else orjson.Fragment(v) for v in values]
        columns.append(values)
    for row in zip(*columns, strict=True):
        yield orjson.dumps(dict(zip(names, row, strict=True)))


def _iter_lines(path: Path, kinds: dict[str, str]) -> Iterator[bytes]:
    with _file(path) as pf:
        for batch in pf.iter_batches(batch_size=ROW_GROUP):
            yield from _json_lines(batch, kinds)


def read_records(path: Path, model: type[M]) -> Iterator[M]:
    """``model`` instances from a ``.jsonl`` or ``.parquet`` file (Parquet: the extra)."""
    path = Path(path)
    if path.suffix != ".parquet":
        yield from iter_jsonl(path, model, skip_torn_tail=True)
        return
    for line in _iter_lines(path, _kinds(model)):
        yield model.model_validate_json(line)


def _file(path: Path) -> Any:
    check_pyarrow(str(path))
    import pyarrow.parquet as pq

    return pq.ParquetFile(path)


def iter_rows(path: Path, model: type[BaseModel]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row as the JSONL line's dict) of a Parquet file, one row group at a time."""
    for n, line in enumerate(_iter_lines(path, _kinds(model))):
        yield n, orjson.loads(line)


def row_at(path: Path, model: type[BaseModel], n: int) -> dict[str, Any] | None:
    """Row ``n`` of a Parquet file (reads its row group only); ``None`` past the end."""
    with _file(path) as pf:
        meta = pf.metadata
        start = 0
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            if n < start + rows:
                table = pf.read_row_group(group).slice(n - start, 1).combine_chunks()
                (batch,) = table.to_batches()
                data: dict[str, Any] = orjson.loads(next(_json_lines(batch, _kinds(model))))
                return data
            start += rows
    return None


def scan(path: Path) -> tuple[int, bool]:
    """Rows of a results Parquet file and whether any is a repeat (> 0), column-wise."""
    with _file(path) as pf:
        repeats = False
        if "repeat" in pf.schema_arrow.names:
            for batch in pf.iter_batches(batch_size=64 * ROW_GROUP, columns=["repeat"]):
                column = batch.column(0).to_pylist()
                if any(r for r in column):
                    repeats = True
                    break
        return int(pf.metadata.num_rows), repeats
