"""Read test samples from CSV, JSONL or YAML files, with errors that name the file and row.

Every reader yields ``(line, TestSample)`` so that later checks (duplicate ids) can point at
both offending rows. CSV columns are mapped to sample fields by ``GeneratorConfig.columns``
(field -> column) or, when unmapped, by conventional names (``question``, ``expected_answer``,
...); columns no field uses go into ``metadata``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.common.jsonl import format_row_error, iter_json_objects
from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import ConfigError, DatasetError

__all__ = [
    "FIELDS",
    "check_samples",
    "detect_format",
    "display_path",
    "load_samples",
    "read_csv",
    "read_jsonl",
    "read_source",
    "read_yaml",
]

FIELDS = ("id", "input", "expected", "context", "tags")
"""Sample fields a CSV column can be mapped to (plus ``metadata.<key>``)."""

_DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "input": ("input", "question", "prompt"),
    "expected": ("expected", "expected_answer", "answer"),
    "context": ("context",),
    "tags": ("tags",),
}

_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FORMATS.update({".yaml": "yaml", ".yml": "yaml"})


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (for error messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def detect_format(path: Path, format: str = "auto") -> str:
    """``csv``, ``jsonl`` or ``yaml`` from ``format`` or the file extension."""
    if format != "auto":
        return format
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise DatasetError(
            f"cannot tell the format from the extension '{path.suffix}'; "
            "use .csv, .jsonl or .yaml, or set generator.format",
            file=display_path(path),
        )
    return found


# -- CSV ----------------------------------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:offset].count(b"\n") + 1
        raise DatasetError(
            f"not valid UTF-8 at byte {offset} (line {line}); save the file as UTF-8",
            file=display_path(path),
        ) from None


def _mapping(path: Path, header: list[str], columns: dict[str, str]) -> dict[str, str]:
    """Field -> column name, explicit mapping first, conventional names for the rest."""
    where = display_path(path)
    present = set(header)
    mapping: dict[str, str] = {}
    for field, column in columns.items():
        if field not in FIELDS and not (field.startswith("metadata.") and len(field) > 9):
            raise ConfigError(
                f"generator.columns: unknown field '{field}' ({did_you_mean(field, FIELDS)}; "
                "or metadata.<key>)"
            )
        if column not in present:
            raise DatasetError(
                f"column '{column}' (mapped to {field}) is not in the header; columns are: "
                f"{', '.join(header)} ({did_you_mean(column, header)})",
                file=where,
                line=1,
            )
        mapping[field] = column
    lower = {h.strip().lower(): h for h in header}
    used = set(mapping.values())
    for field, names in _DEFAULT_COLUMNS.items():
        if field in mapping:
            continue
        for name in names:
            if name in lower and lower[name] not in used:
                mapping[field] = lower[name]
                used.add(lower[name])
                break
    if "input" not in mapping:
        raise DatasetError(
            "no input column: name one 'input', 'question' or 'prompt', or map it with "
            f"generator.columns.input; columns are: {', '.join(header)}",
            file=where,
            line=1,
        )
    return mapping


def _split_tags(cell: str) -> list[str]:
    sep = ";" if ";" in cell else ","
    return [t.strip() for t in cell.split(sep) if t.strip()]


def _context(cell: str) -> list[str]:
    if cell.lstrip().startswith("["):
        try:
            value = orjson.loads(cell)
        except orjson.JSONDecodeError:
            return [cell]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return [cell]


def _delimiter(first_line: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv" or ("\t" in first_line and "," not in first_line):
        return "\t"
    if ";" in first_line and "," not in first_line:
        return ";"
    return ","


def read_csv(path: Path, columns: dict[str, str] | None = None) -> Iterator[tuple[int, TestSample]]:
    """Yield ``(line, sample)`` for each non-blank CSV row (BOM tolerated, UTF-8 required)."""
    where = display_path(path)
    text = _decode(path, _read_bytes(path))
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0], path)
    )
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise DatasetError("the file is empty; the first row must name the columns", file=where)
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DatasetError(f"column '{name}' appears twice in the header", file=where, line=1)
        seen.add(name)
    mapping = _mapping(path, header, columns or {})
    used = set(mapping.values())
    index = {name: i for i, name in enumerate(header)}
    line = reader.line_num + 1
    row_no = 0
    for row in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        row_no += 1
        if len(row) > len(header):
            raise DatasetError(
                f"row has {len(row)} cells but the header has {len(header)} columns "
                "(an unquoted comma?)",
                file=where,
                line=start,
            )
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in index.items()}
        yield start, _row_sample(cells, mapping, used, where, start, row_no)


def _row_sample(
    cells: dict[str, str],
    mapping: dict[str, str],
    used: set[str],
    where: str,
    line: int,
    row_no: int,
) -> TestSample:
    input_col = mapping["input"]
    if not cells[input_col]:
        raise DatasetError(
            f"empty '{input_col}' cell (the input); fill it in or delete the row",
            file=where,
            line=line,
        )
    data: dict[str, Any] = {
        "id": cells.get(mapping.get("id", ""), "") or f"row-{row_no}",
        "input": cells[input_col],
    }
    if "expected" in mapping and cells[mapping["expected"]]:
        data["expected"] = cells[mapping["expected"]]
    if "context" in mapping and cells[mapping["context"]]:
        data["context"] = _context(cells[mapping["context"]])
    if "tags" in mapping:
        data["tags"] = _split_tags(cells[mapping["tags"]])
    metadata = {
        field[9:]: cells[column]
        for field, column in mapping.items()
        if field.startswith("metadata.") and cells[column]
    }
    for name, value in cells.items():
        if name not in used and value and name not in metadata:
            metadata[name] = value
    if metadata:
        data["metadata"] = metadata
    try:
        return TestSample.model_validate(data)
    except ValidationError as exc:
        raise DatasetError(format_row_error(exc, TestSample), file=where, line=line) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError("file not found", file=display_path(path)) from None
    except IsADirectoryError:
        raise DatasetError("is a directory, expected a file", file=display_path(path)) from None


# -- JSONL and YAML -----------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[tuple[int, TestSample]]:
    """Yield ``(line, sample)`` for each non-blank JSONL line (each line one TestSample)."""
    where = display_path(path)
    for line, obj in iter_json_objects(path):
        try:
            yield line, TestSample.model_validate(obj)
        except ValidationError as exc:
            raise DatasetError(format_row_error(exc, TestSample), file=where, line=line) from None


def read_yaml(path: Path) -> Iterator[tuple[int, TestSample]]:
    """Yield ``(line, sample)`` from a YAML list of samples, or ``{samples: [...]}``."""
    from chatbot_tester.common.jsonl import describe_validation_error
    from chatbot_tester.common.yaml_loader import load_yaml_text

    where = display_path(path)
    text = _decode(path, _read_bytes(path))
    try:
        data, positions = load_yaml_text(text, file=where)
    except DatasetError:
        raise
    except ConfigError as exc:
        raise DatasetError(exc.message, file=exc.file, line=exc.line, col=exc.col) from None
    prefix: tuple[str | int, ...] = ()
    if isinstance(data, dict) and "samples" in data:
        data, prefix = data["samples"], ("samples",)
    if data is None:
        return
    if not isinstance(data, list):
        raise DatasetError(
            "expected a list of samples (or a mapping with a 'samples' list)", file=where
        )
    for i, item in enumerate(data):
        pos = positions.locate((*prefix, i), value=True)
        line = pos[0] if pos is not None else i + 1
        if not isinstance(item, dict):
            raise DatasetError(f"sample {i + 1} is not a mapping", file=where, line=line)
        try:
            yield line, TestSample.model_validate(item)
        except ValidationError as exc:
            loc = describe_validation_error(exc)[0]
            field_pos = positions.locate((*prefix, i, *loc))
            raise DatasetError(
                format_row_error(exc, TestSample),
                file=where,
                line=field_pos[0] if field_pos is not None else line,
            ) from None


# -- assembly -----------------------------------------------------------------------------


def read_source(
    path: Path, *, format: str = "auto", columns: dict[str, str] | None = None
) -> Iterator[tuple[int, TestSample]]:
    """``(line, sample)`` pairs of one file in any supported format."""
    kind = detect_format(path, format)
    if kind == "csv":
        return read_csv(path, columns)
    if columns:
        raise ConfigError(f"generator.columns applies to CSV files only, not {kind}")
    return read_jsonl(path) if kind == "jsonl" else read_yaml(path)


def check_samples(
    items: Iterable[tuple[int, TestSample]], path: Path, *, taken: set[str] | None = None
) -> Iterator[TestSample]:
    """Pass samples through, failing on a duplicate id (naming both lines) or an empty file.

    ``taken`` collects the ids seen (callers use it to keep synthetic ids unique).
    """
    where = display_path(path)
    first_line: dict[str, int] = {}
    for line, sample in items:
        previous = first_line.get(sample.id)
        if previous is not None:
            raise DatasetError(
                f"duplicate id '{sample.id}' (first used on line {previous}); ids must be unique",
                file=where,
                line=line,
            )
        first_line[sample.id] = line
        if taken is not None:
            taken.add(sample.id)
        yield sample
    if not first_line:
        raise DatasetError("the dataset is empty: no samples found", file=where)


def load_samples(config: GeneratorConfig, base_dir: Path) -> Iterator[TestSample]:
    """The validated samples of ``config.source`` (relative to ``base_dir``); synthetic excluded."""
    if config.source is None:
        return iter(())
    path = config.source if config.source.is_absolute() else (base_dir / config.source)
    return check_samples(read_source(path, format=config.format, columns=config.columns), path)
