"""Compare several variant runs with one baseline run, with the answers of flipped samples.

Each non-baseline variant is compared with the baseline by ``compare_runs`` (same paired
tests, Holm across metrics per pair). The samples that flipped (pass -> fail, fail -> pass)
are looked up in both runs' dataset and results so the report shows the question and both
answers rather than bare ids. Everything here is data; the reports escape it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.common.artifacts.run_files import iter_models
from chatbot_tester.common.artifacts.storage import atomic_write_text
from chatbot_tester.common.artifacts.workspace import RESULTS
from chatbot_tester.common.schemas import RunRecord, TestSample
from chatbot_tester.evaluator.compare import compare_runs
from chatbot_tester.evaluator.compare_group_model import (
    FlippedSample,
    GroupComparison,
    VariantSide,
)
from chatbot_tester.evaluator.compare_model import COMPARE_FILES, Comparison

__all__ = ["FlippedSample", "GroupComparison", "VariantSide", "compare_group", "write_group"]

MAX_FLIPPED = 50
"""Flipped samples shown per variant and metric (the counts are always complete)."""


def _question(sample: TestSample) -> str:
    if sample.turns:
        return sample.turns[-1].user
    if isinstance(sample.input, str):
        return sample.input
    if sample.input:
        return str(sample.input[-1].content)
    return ""


def _answers(run: Path) -> dict[str, RunRecord]:
    """Sample id -> its first record (repeat 0) in the run's results."""
    out: dict[str, RunRecord] = {}
    for record in iter_models(run / RESULTS, RunRecord, skip_torn_tail=False):
        out.setdefault(record.sample_id, record)
    return out


def _flipped(comparison: Comparison, baseline: Path, variant: Path) -> list[FlippedSample]:
    samples = {s.id: s for s in iter_jsonl(baseline / "dataset.jsonl", TestSample)}
    base, cand = _answers(baseline), _answers(variant)
    out: list[FlippedSample] = []
    for m in comparison.metrics:
        flips = [("pass_to_fail", m.regressions), ("fail_to_pass", m.improvements)]
        for flip, ids in flips:
            for sid in ids[:MAX_FLIPPED]:
                sample, b, c = samples.get(sid), base.get(sid), cand.get(sid)
                out.append(
                    FlippedSample(
                        metric=m.metric,
                        flip=flip,
                        sample_id=sid,
                        question=_question(sample) if sample is not None else "",
                        baseline_answer=b.response.text if b and b.response else None,
                        variant_answer=c.response.text if c and c.response else None,
                        variant_error=c.error.message if c and c.error else None,
                    )
                )
    return out


def compare_group(
    group: str,
    baseline: VariantSide,
    variants: list[VariantSide],
    *,
    alpha: float = 0.05,
    correction: Literal["holm", "none"] = "holm",
    min_effect: dict[str, float] | None = None,
    statistic: Mapping[str, Literal["mean", "p50", "p95"]] | None = None,
) -> GroupComparison:
    """Compare each of ``variants`` with ``baseline`` and collect the flipped samples."""
    from chatbot_tester.errors import ConfigError

    out = GroupComparison(group=group, baseline=baseline, variants=variants)
    base_dir = Path(baseline.run_dir)
    for side in variants:
        try:
            comparison = compare_runs(
                base_dir,
                Path(side.run_dir),
                alpha=alpha,
                correction=correction,
                min_effect=min_effect,
                statistic=statistic,
            )
        except ConfigError as exc:
            out.problems[side.name] = str(exc)
            continue
        out.comparisons[side.name] = comparison
        out.flipped[side.name] = _flipped(comparison, base_dir, Path(side.run_dir))
    return out


def write_group(group: GroupComparison, out_dir: Path) -> dict[str, Path]:
    """Write the group's compare.html, compare.md and compare.json atomically into ``out_dir``."""
    from chatbot_tester.evaluator.reports.compare_group_html import render_group_html
    from chatbot_tester.evaluator.reports.compare_group_md import render_group_markdown

    texts = {
        "compare_html": render_group_html(group),
        "compare_md": render_group_markdown(group),
        "compare_json": group.model_dump_json(indent=2) + "\n",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, text in texts.items():
        path = out_dir / COMPARE_FILES[key]
        atomic_write_text(path, text)
        paths[key] = path
    return paths
