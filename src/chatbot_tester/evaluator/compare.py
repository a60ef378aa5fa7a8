"""Compare two evaluated runs with paired statistics to tell a regression from noise.

Samples are paired by id (whole-sample scores, ``turn`` None; repeats give each sample the
share of its passing repeats), or by input content when the ids were generated (``row-N``).
Each metric gets one primary test (``compare_tests``) and the p-values are corrected across
metrics (Holm by default) before the exit code is decided. Missing data never favours the
candidate, a candidate that did not complete is a regression unless ``allow_partial``, and runs
that are not like-for-like (repeat count, metric configs, dataset) are refused unless ``force``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.compare_load import (
    differences,
    direction_of,
    load_scores,
    manifest,
    metric_specs,
    pair_ids,
)
from chatbot_tester.evaluator.compare_model import (
    COMPARE_FILES,
    Comparison,
    MetricComparison,
    RunSide,
    StatDelta,
)
from chatbot_tester.evaluator.compare_tests import compare_metric, decide

__all__ = [
    "COMPARE_FILES",
    "DEFAULT_MIN_EFFECT",
    "Comparison",
    "MetricComparison",
    "RunSide",
    "StatDelta",
    "compare_runs",
    "write_comparison",
]

DEFAULT_MIN_EFFECT = 0.10
"""Relative margin a graded lower-is-better metric (latency, cost) must move by to count."""

_OPERATIONAL = [
    ("latency", "p50"),
    ("latency", "p95"),
    ("ttft", "p95"),
    ("cost", "total"),
    ("tokens", "total"),
    ("totals", "errors"),
]


def _report(run: Path, notes: list[str]) -> dict[str, Any]:
    path = run / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        notes.append(f"{run.name}: no report.json; latency and cost deltas are not available")
        return {}
    except (OSError, ValueError) as exc:
        notes.append(f"{run.name}: report.json unreadable ({exc}); latency and cost deltas skipped")
        return {}
    return data if isinstance(data, dict) else {}


def _stat(report: dict[str, Any], section: str, stat: str) -> float | None:
    value = report.get(section, {}).get(stat) if isinstance(report.get(section), dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _operational(base: dict[str, Any], cand: dict[str, Any]) -> list[StatDelta]:
    out = []
    for section, stat in _OPERATIONAL:
        a, b = _stat(base, section, stat), _stat(cand, section, stat)
        if a is None and b is None:
            continue
        delta = b - a if a is not None and b is not None else None
        out.append(StatDelta(name=f"{section}.{stat}", baseline=a, candidate=b, delta=delta))
    return out


def _status(man: dict[str, Any] | None) -> str | None:
    status = man.get("status") if man else None
    return str(status) if status is not None else None


def compare_runs(
    baseline: Path,
    candidate: Path,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    correction: Literal["holm", "none"] = "holm",
    min_effect: dict[str, float] | None = None,
    statistic: Mapping[str, Literal["mean", "p50", "p95"]] | None = None,
    force: bool = False,
    allow_partial: bool = False,
) -> Comparison:
    """Compare two evaluated run directories (each with scores.jsonl, ideally report.json).

    ``min_effect`` maps metric labels to their relative practical-significance margin
    (default 10% for graded lower-is-better metrics, 0 otherwise); ``statistic`` maps labels
    of graded metrics to what they are compared on (mean by default, or p50/p95). Runs that are not
    like-for-like raise ``ConfigError`` unless ``force``.
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    if correction not in ("holm", "none"):
        raise ConfigError(f"correction must be 'holm' or 'none', got {correction!r}")
    baseline, candidate = Path(baseline), Path(candidate)
    base_man, cand_man = manifest(baseline), manifest(candidate)
    diffs = differences(base_man, cand_man)
    if diffs and not force:
        raise ConfigError(
            f"runs {baseline.name} and {candidate.name} are not like-for-like: {diffs[0]} "
            "(re-run one of them the same way, or pass --force to compare anyway)"
        )
    notes: list[str] = []
    rename = pair_ids(baseline, candidate, notes)
    base_table, base_samples = load_scores(baseline)
    cand_table, cand_samples = load_scores(candidate, rename)
    if not base_samples & cand_samples and cand_samples:
        raise ConfigError(
            f"runs {baseline.name} and {candidate.name} share no sample ids; nothing to compare"
        )
    specs = metric_specs(base_man) | metric_specs(cand_man)
    margins = min_effect or {}
    metrics: list[MetricComparison] = []
    for name in sorted(set(base_table) | set(cand_table)):
        if name not in cand_table:
            notes.append(f"metric '{name}' is scored in the baseline only")
        elif name not in base_table:
            notes.append(f"metric '{name}' is scored in the candidate only")
        base, cand = base_table.get(name, {}), cand_table.get(name, {})
        direction = direction_of(name, specs.get(name))
        graded = not any(a.n_verdicts for a in (*base.values(), *cand.values()))
        default = DEFAULT_MIN_EFFECT if direction == "lower" and graded else 0.0
        metrics.append(
            compare_metric(
                name,
                base,
                cand,
                direction=direction,
                min_effect=margins.get(name, default),
                alpha=alpha,
                seed=seed,
                statistic=(statistic or {}).get(name, "mean"),
            )
        )
    decide(metrics, alpha=alpha, correction=correction)
    status = _status(cand_man)
    partial = status is not None and status != "completed"
    if partial:
        notes.insert(0, f"candidate run {candidate.name} did not complete (status {status})")
    return Comparison(
        baseline=RunSide(
            path=str(baseline),
            run_id=baseline.name,
            samples=len(base_samples),
            status=_status(base_man),
        ),
        candidate=RunSide(
            path=str(candidate), run_id=candidate.name, samples=len(cand_samples), status=status
        ),
        alpha=alpha,
        correction=correction,
        missing_in_candidate=len(base_samples - cand_samples),
        partial_candidate=partial,
        allow_partial=allow_partial,
        differences=diffs,
        metrics=metrics,
        only_in_baseline=sorted(base_samples - cand_samples),
        only_in_candidate=sorted(cand_samples - base_samples),
        operational=_operational(_report(baseline, notes), _report(candidate, notes)),
        notes=notes,
    )


def write_comparison(
    comparison: Comparison, out_dir: Path, *, step_summary: bool = True
) -> dict[str, Path]:
    """Write compare.md, compare.html and compare.json atomically into ``out_dir``.

    With ``step_summary`` and ``$GITHUB_STEP_SUMMARY`` set, the Markdown is appended there too
    (an unwritable summary file is a logged warning, not an error).
    Returns report key (``compare_md``, ``compare_html``, ``compare_json``) -> path.
    """
    from chatbot_tester.common.artifacts.storage import atomic_write_text
    from chatbot_tester.evaluator.reports import append_step_summary
    from chatbot_tester.evaluator.reports.compare_html import render_html
    from chatbot_tester.evaluator.reports.compare_md import render_markdown

    markdown = render_markdown(comparison)
    texts = {
        "compare_md": markdown,
        "compare_html": render_html(comparison),
        "compare_json": comparison.model_dump_json(indent=2) + "\n",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, text in texts.items():
        path = out_dir / COMPARE_FILES[key]
        atomic_write_text(path, text)
        paths[key] = path
    if step_summary:
        append_step_summary(markdown)
    return paths
