"""Read test samples from tables of typed rows: a ``.json`` array, Parquet, a saved HF dataset.

Each row is an object (a JSON object, a Parquet row, a ``datasets`` row). Rows map to sample
fields like CSV columns do: ``generator.columns`` (field -> column) first, then the
conventional names (``question``, ``answer``, ...); other non-null columns go to
``metadata``; a row without an id is ``row-N``. A ``.json`` array of full samples (objects
with ``input`` or ``turns`` and no mapping) is read as samples. Parquet needs the ``parquet``
extra (pyarrow), Hugging Face datasets saved with ``save_to_disk`` the ``hf`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from chatbot_tester.common.artifacts.jsonl import format_row_error
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import DatasetError, PluginError
from chatbot_tester.generator.csv_source import _mapping as column_mapping
from chatbot_tester.generator.input_checks import decode_text, display_path, read_bytes

__all__ = ["read_hf_dataset", "read_json_array", "read_parquet", "read_rows"]


def read_json_array(path: Path, columns: dict[str, str] | None) -> Iterator[tuple[int, TestSample]]:
    """``(item number, sample)`` for each object of a JSON array (or ``{"samples": [...]}``)."""
    where = display_path(path)
    try:
        data = orjson.loads(decode_text(path, read_bytes(path)))
    except orjson.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON: {exc}", file=where) from None
    if isinstance(data, dict) and isinstance(data.get("samples"), list):
        data = data["samples"]
    if not isinstance(data, list):
        raise DatasetError("expected a JSON array of objects (one per sample)", file=where)
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise DatasetError(f"item {i} is not an object", file=where, line=i)
    full = not columns and all("input" in o or "turns" in o for o in data)
    return read_rows(path, data, None if full else (columns or {}))


def read_parquet(path: Path, columns: dict[str, str] | None) -> Iterator[tuple[int, TestSample]]:
    """``(row number, sample)`` for each row of a Parquet file (the ``parquet`` extra)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise PluginError(
            "Parquet sources need pyarrow: pip install 'chatbot-tester[parquet]'"
        ) from None
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read Parquet: {exc}", file=display_path(path)) from None
    return read_rows(path, rows, columns or {})


def read_hf_dataset(path: Path, columns: dict[str, str] | None) -> Iterator[tuple[int, TestSample]]:
    """Rows of a dataset saved with ``datasets``' ``save_to_disk`` (its ``test`` split, if a dict)."""
    try:
        import datasets
    except ImportError:
        raise PluginError(
            "Hugging Face dataset sources need datasets: pip install 'chatbot-tester[hf]'"
        ) from None
    where = display_path(path)
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise DatasetError(f"not a saved Hugging Face dataset: {exc}", file=where) from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        split = "test" if "test" in loaded else splits[0] if len(splits) == 1 else None
        if split is None:
            raise DatasetError(
                f"the dataset has splits {', '.join(splits)} and none is 'test'; save one split",
                file=where,
            )
        loaded = loaded[split]
    return read_rows(path, [dict(row) for row in loaded], columns or {})


def read_rows(
    path: Path, rows: list[dict[str, Any]], columns: dict[str, str] | None
) -> Iterator[tuple[int, TestSample]]:
    """Samples of typed rows; ``columns=None``: each row is a full sample."""
    where = display_path(path)
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    mapping = column_mapping(path, header, columns) if columns is not None else None
    for number, row in enumerate(rows, 1):
        data = row if mapping is None else _mapped(row, mapping, number)
        try:
            yield number, TestSample.model_validate(data)
        except ValidationError as exc:
            raise DatasetError(
                f"row {number}: {format_row_error(exc, TestSample)}", file=where
            ) from None


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _mapped(row: dict[str, Any], mapping: dict[str, str], number: int) -> dict[str, Any]:
    used = set(mapping.values())
    ident = row.get(mapping.get("id", ""))
    value = row.get(mapping["input"])
    data: dict[str, Any] = {
        "id": str(ident) if ident not in (None, "") else f"row-{number}",
        "input": value if isinstance(value, str) else "" if value is None else str(value),
    }
    expected = row.get(mapping.get("expected", ""))
    if expected not in (None, ""):
        data["expected"] = _strings(expected) if isinstance(expected, list) else str(expected)
    if "context" in mapping:
        data["context"] = _strings(row.get(mapping["context"]))
    if "tags" in mapping:
        tags = row.get(mapping["tags"])
        data["tags"] = (
            [t.strip() for t in tags.split(",") if t.strip()]
            if isinstance(tags, str)
            else _strings(tags)
        )
    metadata = {
        field[9:]: row[column]
        for field, column in mapping.items()
        if field.startswith("metadata.") and row.get(column) is not None
    }
    for name, cell in row.items():
        if name not in used and cell is not None and name not in metadata:
            metadata[name] = cell
    if metadata:
        data["metadata"] = orjson.loads(orjson.dumps(metadata, default=str))
    return data
