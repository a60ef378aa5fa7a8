"""A run's results and scores as one flat table: CSV (for spreadsheets) or Parquet.

One row per record (sample and repeat): the sample's input, expected and tags, the answer,
error, latency, tokens and cost, then three columns per metric: ``<metric>.value``,
``<metric>.passed``, ``<metric>.reason`` (per-turn scores stay in scores.jsonl). A run archived as Parquet
(``results.parquet``/``scores.parquet`` without the JSONL) exports the same.

Answers and inputs are untrusted: a CSV cell that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is prefixed with ``'``,
the OWASP advice; Parquet keeps the values as they are (it has types, not formulas).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.common.artifacts.run_files import iter_models, require
from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.artifacts.workspace import DATASET, RESULTS, SCORES
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.errors import UsageError

__all__ = ["export_rows", "neutralise_formula", "write_csv", "write_parquet"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: Any) -> Any:
    """``value`` with a leading ``'`` when a spreadsheet would evaluate it as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _input_text(sample: TestSample | None) -> str | None:
    if sample is None:
        return None
    if isinstance(sample.input, str):
        return sample.input
    if sample.input:
        return sample.input[-1].content
    return sample.turns[0].user if sample.turns else None


def _expected(sample: TestSample | None) -> str | None:
    if sample is None or sample.expected is None:
        return None
    return sample.expected if isinstance(sample.expected, str) else " | ".join(sample.expected)


def export_rows(run_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The column names and rows of a run directory (``UsageError`` if it has no results)."""
    results = require(run_dir / RESULTS, "results to export", "is this a run directory?")
    samples = (
        {s.id: s for s in iter_jsonl(run_dir / DATASET, TestSample)}
        if (run_dir / DATASET).is_file()
        else {}
    )
    scores: dict[tuple[str, int], dict[str, Score]] = {}
    metrics: list[str] = []
    for score in iter_models(run_dir / SCORES, Score):
        if score.turn is not None:
            continue
        if score.metric not in metrics:
            metrics.append(score.metric)
        scores.setdefault((score.sample_id, score.repeat), {}).setdefault(score.metric, score)
    rows = list(_rows(results, samples, scores, metrics))
    columns = list(rows[0]) if rows else [*_BASE_COLUMNS, *_metric_columns(metrics)]
    return columns, rows


_BASE_COLUMNS = (
    "sample_id", "repeat", "input", "expected", "tags", "answer", "error", "error_kind",
    "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "cached", "model",
)  # fmt: skip


def _metric_columns(metrics: list[str]) -> list[str]:
    return [f"{m}.{part}" for m in metrics for part in ("value", "passed", "reason")]


def _rows(
    results: Path,
    samples: dict[str, TestSample],
    scores: dict[tuple[str, int], dict[str, Score]],
    metrics: list[str],
) -> Iterator[dict[str, Any]]:
    seen: set[tuple[str, int]] = set()
    for record in iter_models(results, RunRecord):
        key = (record.sample_id, record.repeat)
        if key in seen:  # first occurrence wins, as in the evaluation
            continue
        seen.add(key)
        sample = samples.get(record.sample_id)
        usage = record.usage
        row: dict[str, Any] = {
            "sample_id": record.sample_id,
            "repeat": record.repeat,
            "input": _input_text(sample),
            "expected": _expected(sample),
            "tags": ",".join(sample.tags) if sample is not None else None,
            "answer": record.response.text if record.response is not None else None,
            "error": record.error.message if record.error is not None else None,
            "error_kind": str(record.error.kind) if record.error is not None else None,
            "latency_ms": record.latency_ms,
            "prompt_tokens": usage.prompt_tokens if usage is not None else None,
            "completion_tokens": usage.completion_tokens if usage is not None else None,
            "cost_usd": record.cost_usd,
            "cached": record.cached,
            "model": record.model,
        }
        own = scores.get(key, {})
        for metric in metrics:
            score = own.get(metric)
            row[f"{metric}.value"] = score.value if score is not None else None
            row[f"{metric}.passed"] = score.passed if score is not None else None
            row[f"{metric}.reason"] = (score.reason or score.error) if score is not None else None
        yield row


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write the table as UTF-8 CSV (with BOM, for spreadsheets), formulas neutralised."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow([neutralise_formula(c) for c in columns])
    for row in rows:
        writer.writerow(
            ["" if row.get(c) is None else neutralise_formula(row.get(c)) for c in columns]
        )
    atomic_write_bytes(path, ("\ufeff" + buf.getvalue()).encode("utf-8"))


def write_parquet(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write the table as Parquet (needs the ``parquet`` extra: pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(
            "Parquet export needs pyarrow: pip install 'chatbot-tester[parquet]'"
        ) from None
    table = pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in columns})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
