"""Helpers building evaluated run directories for the compare tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chatbot_tester.common.schemas import Score


def write_run(
    path: Path,
    scores: list[Score],
    report: dict[str, Any] | None = None,
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "scores.jsonl", "w", encoding="utf-8") as fh:
        for s in scores:
            fh.write(s.model_dump_json() + "\n")
    if report is not None:
        (path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return path


def binary_scores(metric: str, passed: dict[str, bool], repeat: int = 0) -> list[Score]:
    return [
        Score(sample_id=sid, repeat=repeat, metric=metric, value=float(ok), passed=ok)
        for sid, ok in passed.items()
    ]


def report(p50: float, p95: float, errors: int = 0, cost: float | None = 0.5) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "totals": {"samples": 40, "records": 40, "ok": 40 - errors, "errors": errors},
        "metrics": {},
        "latency": {"mean": p50, "p50": p50, "p95": p95, "p99": p95, "count": 40},
        "ttft": {"mean": None, "p50": None, "p95": None, "p99": None, "count": 0},
        "cost": {"total": cost, "known": 40, "unknown": 0},
    }
