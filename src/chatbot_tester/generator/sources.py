"""Read test samples from CSV, JSONL, JSON, Parquet, YAML files or saved HF datasets, with errors that name the file and row.

Every reader yields ``(line, TestSample)`` so that later checks (``check_samples``: printable
ids, non-blank inputs, unique ids) can point at the offending rows. CSV reading lives in
``csv_source``; JSONL lines with a key repeated in one object are rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from chatbot_tester.common.artifacts.jsonl import format_row_error, iter_json_objects
from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.common.validation import duplicate_id_error
from chatbot_tester.errors import ConfigError, DatasetError
from chatbot_tester.generator.csv_source import FIELDS, read_csv
from chatbot_tester.generator.input_checks import (
    check_regular_file,
    decode_text,
    display_path,
    read_bytes,
    sample_problem,
)
from chatbot_tester.generator.table_source import (
    read_hf_dataset,
    read_json_array,
    read_parquet,
)

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

_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FORMATS.update({".yaml": "yaml", ".yml": "yaml", ".json": "json", ".parquet": "parquet"})
_TABLES = {"json": read_json_array, "parquet": read_parquet, "hf": read_hf_dataset}


def detect_format(path: Path, format: str = "auto") -> str:
    """``csv``, ``jsonl``, ``json``, ``parquet``, ``yaml`` or ``hf`` (a directory)."""
    if format != "auto":
        return format
    if path.is_dir():  # a Hugging Face dataset saved with save_to_disk
        return "hf"
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise DatasetError(
            f"cannot tell the format from the extension '{path.suffix}'; "
            "use .csv, .jsonl, .json, .parquet or .yaml, or set generator.format",
            file=display_path(path),
        )
    return found


# -- JSONL and YAML -----------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[tuple[int, TestSample]]:
    """Yield ``(line, sample)`` for each non-blank JSONL line (each line one TestSample)."""
    where = display_path(path)
    check_regular_file(path)
    objects = iter_json_objects(path, unique_keys=True)
    while True:
        try:
            line, obj = next(objects)
        except StopIteration:
            return
        except DatasetError as exc:  # name the file as the user wrote it, like other errors
            raise DatasetError(exc.message, file=where, line=exc.line) from None
        try:
            yield line, TestSample.model_validate(obj)
        except ValidationError as exc:
            raise DatasetError(format_row_error(exc, TestSample), file=where, line=line) from None


def read_yaml(path: Path) -> Iterator[tuple[int, TestSample]]:
    """Yield ``(line, sample)`` from a YAML list of samples, or ``{samples: [...]}``."""
    from chatbot_tester.common.artifacts.jsonl import describe_validation_error
    from chatbot_tester.common.yaml_loader import load_yaml_text

    where = display_path(path)
    text = decode_text(path, read_bytes(path))
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
    if kind in _TABLES:
        return _TABLES[kind](path, columns)
    if columns:
        raise ConfigError(f"generator.columns applies to CSV, JSON, Parquet and HF, not {kind}")
    return read_jsonl(path) if kind == "jsonl" else read_yaml(path)


def check_samples(
    items: Iterable[tuple[int, TestSample]], path: Path, *, taken: set[str] | None = None
) -> Iterator[TestSample]:
    """Pass samples through, failing on a bad sample, a duplicate id or an empty file.

    Bad samples are those ``sample_problem`` rejects (unprintable id, blank input); a duplicate
    id names both lines. ``taken`` collects the ids seen (callers use it to keep synthetic ids unique).
    """
    where = display_path(path)
    first_line: dict[str, int] = {}
    for line, sample in items:
        problem = sample_problem(sample)
        if problem is not None:
            raise DatasetError(problem, file=where, line=line)
        previous = first_line.get(sample.id)
        if previous is not None:
            raise duplicate_id_error(sample.id, file=where, line=line, first_line=previous)
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
