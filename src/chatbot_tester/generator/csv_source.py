"""Read test samples from CSV (or TSV / semicolon) files, strictly, with errors naming the line.

CSV columns are mapped to sample fields by ``GeneratorConfig.columns`` (field -> column) or,
when unmapped, by conventional names (``question``, ``expected_answer``, ...); columns no field
uses go into ``metadata``. A quote left open, a stray quote and a row whose cell count differs
from the header's are errors, never silently merged or padded rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from chatbot_tester.common.artifacts.jsonl import format_row_error
from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import ConfigError, DatasetError
from chatbot_tester.generator.input_checks import decode_text, display_path, read_bytes

__all__ = ["FIELDS", "read_csv"]

FIELDS = ("id", "input", "expected", "context", "tags")
"""Sample fields a CSV column can be mapped to (plus ``metadata.<key>``)."""

_DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "input": ("input", "question", "prompt"),
    "expected": ("expected", "expected_answer", "answer"),
    "context": ("context",),
    "tags": ("tags",),
}


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
    """Yield ``(line, sample)`` for each non-blank CSV row (BOM tolerated, UTF-8 required).

    Parsing is strict: a quote left open (which would swallow every later row into one cell),
    a stray quote after a quoted cell, and a row with more or fewer cells than the header are
    errors naming the line.
    """
    where = display_path(path)
    text = decode_text(path, read_bytes(path))
    delimiter = _delimiter(text.split("\n", 1)[0], path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header = _next_row(reader, text, delimiter, where, 1)
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
    while True:
        start = line
        row = _next_row(reader, text, delimiter, where, start)
        if row is None:
            return
        line = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        row_no += 1
        if len(row) != len(header):
            hint = "an unquoted delimiter?" if len(row) > len(header) else "a missing delimiter?"
            raise DatasetError(
                f"row has {len(row)} cells but the header has {len(header)} columns ({hint}); "
                f"give every row {len(header)} cells",
                file=where,
                line=start,
            )
        cells = {name: row[i].strip() for name, i in index.items()}
        yield start, _row_sample(cells, mapping, used, where, start, row_no)


def _next_row(reader: Any, text: str, delimiter: str, where: str, start: int) -> list[str] | None:
    """The next row of ``reader`` (None at the end); a parse error names the line and the fix."""
    try:
        row: list[str] = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        opened = _open_quote_line(text, start, delimiter)
        if opened is not None:
            raise DatasetError(
                "a quote opened on this line is never closed, so every later row would be "
                'read into one cell; close the quote, or double a quote inside a cell ("")',
                file=where,
                line=opened,
            ) from None
        spans = f" (in the row that starts on line {start})" if reader.line_num > start else ""
        raise DatasetError(
            f"bad CSV quoting: {exc}{spans}; quote the whole cell and double a quote inside "
            'it ("")',
            file=where,
            line=reader.line_num,
        ) from None
    return row


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _open_quote_line(text: str, start: int, delimiter: str) -> int | None:
    """Line of the quote still open at the end of ``text``, scanning from line ``start``."""
    offset = 0
    for _ in range(start - 1):
        found = _LINE_BREAK.search(text, offset)
        if found is None:
            return None
        offset = found.end()
    line, quoted, after_quote, field_start = start, False, False, True
    opened: int | None = None
    for ch in _LINE_BREAK.sub("\n", text[offset:]):
        if quoted:
            if ch == '"':
                quoted, after_quote = False, True
            elif ch == "\n":
                line += 1
        elif ch == '"' and field_start:
            quoted, opened, field_start = True, line, False
        elif ch == '"' and after_quote:  # a doubled quote inside a quoted cell
            quoted, after_quote = True, False
        elif ch in (delimiter, "\n"):
            line += ch == "\n"
            field_start, after_quote = True, False
        else:
            field_start = after_quote = False
    return opened if quoted else None


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
