"""``report.md``: a short summary for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

Every text that comes from a dataset, an answer or a config (ids, metric names, excerpts,
reasons) goes through ``md_escape``: terminal escapes and control characters are stripped
(``reports.text.clean_text``), HTML is neutralised to entities, Markdown syntax is
backslash-escaped and ``@mentions`` are broken, so an answer cannot ping people, inject
links or break the tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chatbot_tester.common.schemas import RunRecord
from chatbot_tester.evaluator.records import DatasetIndex, iter_summary_scores, iter_unique_records
from chatbot_tester.evaluator.reports.text import clean_text

__all__ = ["md_code", "md_escape", "render_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~<>-])")
TOP_FAILING = 10


def md_escape(text: object, limit: int = 100) -> str:
    """One line of ``text`` that renders literally in GitHub Markdown (tables included)."""
    s = " ".join(clean_text(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return s.replace("@", "@\u200b").replace("://", ":\u200b//")


def md_code(text: object, limit: int = 80) -> str:
    """``text`` as an inline code span (literal in GitHub, ``|`` escaped for tables)."""
    s = " ".join(clean_text(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    if "`" in s or not s:
        return md_escape(s, limit)
    return "`" + s.replace("|", "\\|") + "`"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _flaky(m: dict[str, Any]) -> str:
    if m.get("flaky") is None:
        return "–"
    return f"{m['flaky']} ({_pct(m.get('flip_rate'))})"


def _metric_rows(metrics: dict[str, Any]) -> Iterable[str]:
    repeats = any("flaky" in m for m in metrics.values())
    yield "| metric | mean [95% CI] | pass rate [95% CI] | scored | errors |" + (
        " flaky (flip rate) |" if repeats else ""
    )
    yield "|---|---:|---:|---:|---:|" + ("---:|" if repeats else "")
    for name, m in metrics.items():
        mean = _num(m.get("mean"))
        if m.get("ci_low") is not None:
            mean += f" [{_num(m['ci_low'])}, {_num(m['ci_high'])}]"
        rate = _pct(m.get("pass_rate"))
        if m.get("pass_ci_low") is not None:
            rate += f" [{_pct(m['pass_ci_low'])}, {_pct(m['pass_ci_high'])}]"
        scored = f"{m.get('scored', 0)} of {m.get('total', 0)}"
        unstable = f" ({m['unstable']} unstable)" if m.get("unstable") else ""
        row = (
            f"| {md_code(name, 60)} | {mean} | {rate} | {scored}{unstable} | {m.get('errors', 0)} |"
        )
        yield row + (f" {_flaky(m)} |" if repeats else "")


def _failing(
    scores_path: Path, summary: dict[str, Any]
) -> list[tuple[tuple[str, int], list[str], str]]:
    """The samples with the most failed/errored metrics: (key, metrics, first reason)."""
    failed: dict[tuple[str, int], tuple[list[str], str]] = {}
    for score in iter_summary_scores(scores_path, summary):
        if score.passed is False or score.error is not None:
            entry = failed.setdefault(
                (score.sample_id, score.repeat), ([], score.error or score.reason or "")
            )
            label = (
                score.metric if score.turn is None else f"{score.metric} (turn {score.turn + 1})"
            )
            entry[0].append(label)
    top = sorted(failed.items(), key=lambda kv: (-len(kv[1][0]), kv[0]))[:TOP_FAILING]
    return [(key, metrics, reason) for key, (metrics, reason) in top]


def _answers(results_path: Path, keys: set[tuple[str, int]]) -> dict[tuple[str, int], RunRecord]:
    found: dict[tuple[str, int], RunRecord] = {}
    if not keys or not results_path.exists():
        return found
    for record in iter_unique_records(results_path):
        if record.key in keys:
            found[record.key] = record
            if len(found) == len(keys):
                break
    return found


def render_markdown(
    summary: dict[str, Any], dataset_path: Path, results_path: Path, scores_path: Path
) -> str:
    """The ``report.md`` text."""
    title = md_escape(summary.get("title") or summary.get("pipeline") or "chatbot-tester", 120)
    passed = summary.get("passed", True)
    gates = summary.get("gates", [])
    n_failed = sum(1 for g in gates if not g.get("passed"))
    if gates:  # without gates nothing was checked: do not claim "passed"
        heading = f"{'✅' if passed else '❌'} {title}: {'passed' if passed else 'failed'}"
    else:
        heading = f"ℹ️ {title}: no gates configured"
    out = [f"## {heading}", ""]
    if gates:
        out.append(f"**Gates:** {len(gates) - n_failed} passed, {n_failed} failed")
        out.extend(
            f"- {'✅' if g.get('passed') else '❌'} {md_code(g.get('expr', ''))} (actual {_num(g.get('actual'))})"
            for g in gates
        )
    else:
        out.append("**Gates:** none configured")
    out.append("")
    totals = summary.get("totals", {})
    repeats = totals.get("repeats") or 1
    out.append(
        f"Run {md_escape(summary.get('run_id') or '–', 60)} · {totals.get('samples', 0)} samples · "
        f"{totals.get('records', 0)} records · {totals.get('ok', 0)} answered"
        + (
            f" · {repeats} repeats per sample (statistics over samples; flaky = repeats disagree)"
            if repeats > 1
            else ""
        )
    )
    out.append("")
    metrics = summary.get("metrics", {})
    if metrics:
        out.extend(_metric_rows(metrics))
        out.append("")
    lat, ttft = summary.get("latency", {}), summary.get("ttft", {})
    out.append(
        f"**Latency (ms):** p50 {_num(lat.get('p50'), 1)} · p95 {_num(lat.get('p95'), 1)} · p99 {_num(lat.get('p99'), 1)}"
        + (
            f" · **TTFT (ms):** p50 {_num(ttft.get('p50'), 1)} · p95 {_num(ttft.get('p95'), 1)}"
            f" · p99 {_num(ttft.get('p99'), 1)}"
            if ttft.get("count")
            else ""
        )
    )
    kinds = ", ".join(
        f"{md_escape(k, 40)}: {v}" for k, v in totals.get("errors_by_kind", {}).items()
    )
    out.append(
        f"**Errors:** {totals.get('errors', 0)} of {totals.get('records', 0)} records"
        + (f" ({kinds})" if kinds else "")
    )
    cost, tokens = summary.get("cost", {}), summary.get("tokens", {})
    cost_text = "unknown" if cost.get("total") is None else f"${cost['total']:.4f}"
    if cost.get("unknown"):
        cost_text += f" ({cost['unknown']} records unpriced)"
    tok = tokens.get("total")
    out.append(
        f"**Cost:** {cost_text} · **Tokens:** {'–' if tok is None else tok}{' (estimated)' if tokens.get('estimated') else ''}"
    )
    failing = _failing(scores_path, summary)
    if failing:
        records = _answers(results_path, {key for key, _, _ in failing})
        out += [
            "",
            f"### Top {len(failing)} failing samples",
            "",
            "| sample | failed | input | answer | why |",
            "|---|---|---|---|---|",
        ]
        with DatasetIndex(dataset_path, validate=False) as dataset:
            for (sid, repeat), labels, reason in failing:
                question = ""
                if sid in dataset:
                    msgs = dataset.get(sid).input_messages()
                    question = msgs[-1].content if msgs else ""
                record = records.get((sid, repeat))
                answer = (
                    record.response.text
                    if record is not None and record.response is not None
                    else ""
                )
                name = sid if not repeat else f"{sid} #{repeat}"
                out.append(
                    f"| {md_escape(name, 40)} | {md_escape(', '.join(labels), 60)} | {md_escape(question, 60)} "
                    f"| {md_escape(answer, 60)} | {md_escape(reason, 80)} |"
                )
    out.append("")
    return "\n".join(out)
