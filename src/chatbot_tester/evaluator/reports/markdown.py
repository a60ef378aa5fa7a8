"""``report.md``: a short summary for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

Every text that comes from a dataset, an answer or a config (ids, metric names, excerpts,
reasons) goes through ``md_escape``: terminal escapes and control characters are stripped
(``reports.text.clean_text``), HTML is neutralised to entities, Markdown syntax is
backslash-escaped and ``@mentions`` are broken, so an answer cannot ping people, inject
links or break the tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import IO, Any, NamedTuple

from chatbot_tester.evaluator.report_model import EvalReport
from chatbot_tester.evaluator.reports.attack import attack_rows
from chatbot_tester.evaluator.reports.base import Reporter, Row
from chatbot_tester.evaluator.reports.text import clean_text

__all__ = ["MarkdownReporter", "md_code", "md_escape", "render_markdown"]

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


class _Failing(NamedTuple):
    """A failing sample as the "top failing" table shows it (texts already cut)."""

    order: tuple[int, str, int]
    labels: list[str]
    reason: str
    question: str
    answer: str


def _failing_entry(row: Row) -> _Failing | None:
    """The row as a failing-sample entry, or ``None`` when nothing failed."""
    labels: list[str] = []
    reason: str | None = None
    for score in row.scores:
        if score.passed is False or score.error is not None:
            if reason is None:
                reason = score.error or score.reason or ""
            labels.append(
                score.metric if score.turn is None else f"{score.metric} (turn {score.turn + 1})"
            )
    if not labels:
        return None
    msgs = row.sample.input_messages()
    record = row.record
    answer = record.response.text if record is not None and record.response is not None else ""
    repeat = record.repeat if record is not None else 0
    return _Failing(
        (-len(labels), row.sample.id, repeat),
        labels,
        (reason or "")[:200],
        (msgs[-1].content if msgs else "")[:200],
        answer[:200],
    )


class MarkdownReporter(Reporter):
    """``report.md``: keeps only the top failing samples (a bounded list) while rows go by."""

    file_name = "report.md"

    def __init__(self, out: IO[bytes], *, baseline: EvalReport | None = None) -> None:
        """Start an empty report on ``out``."""
        super().__init__(out, baseline=baseline)
        self._top: list[_Failing] = []

    def add(self, row: Row) -> None:
        """Take one row (see ``Reporter.add``)."""
        entry = _failing_entry(row)
        if entry is None:
            return
        self._top.append(entry)
        if len(self._top) > 4 * TOP_FAILING:
            self._top = sorted(self._top)[:TOP_FAILING]

    def finish(self, report: EvalReport) -> None:
        """Write the report (see ``Reporter.finish``)."""
        self.out.write(render_markdown(report, sorted(self._top)[:TOP_FAILING]).encode("utf-8"))


def render_markdown(report: EvalReport, failing: Sequence[_Failing] = ()) -> str:
    """The ``report.md`` text (``failing``: the top failing samples, worst first)."""
    title = md_escape(report.title or report.pipeline or "chatbot-tester", 120)
    decision = report.decision
    gates = report.gates
    n_failed = sum(1 for g in gates if not g.passed)
    if not decision.passed:
        heading = f"❌ {title}: failed"
    elif gates:
        heading = f"✅ {title}: passed"
    else:  # without gates nothing was checked: do not claim "passed"
        heading = f"ℹ️ {title}: no gates configured"
    out = [f"## {heading}", ""]
    if gates:
        out.append(f"**Gates:** {len(gates) - n_failed} passed, {n_failed} failed")
        out.extend(
            f"- {'✅' if g.passed else '❌'} {md_code(g.expr)} (actual {_num(g.actual)})"
            for g in gates
        )
    else:
        out.append("**Gates:** none configured")
    if decision.problems:
        out.append("")
        out.extend(f"- ❌ {md_escape(p, 200)}" for p in decision.problems)
    out.append("")
    totals = report.totals
    repeats = totals.repeats or 1
    out.append(
        f"Run {md_escape(report.run_id or '–', 60)} · {totals.samples} samples · "
        f"{totals.records} records · {totals.ok} answered"
        + (
            f" · {repeats} repeats per sample (statistics over samples; flaky = repeats disagree)"
            if repeats > 1
            else ""
        )
    )
    out.append("")
    metrics = {name: m.model_dump(exclude_unset=True) for name, m in report.metrics.items()}
    if metrics:
        out.extend(_metric_rows(metrics))
        out.append("")
    lat, ttft = report.latency, report.ttft
    out.append(
        f"**Latency (ms):** p50 {_num(lat.p50, 1)} · p95 {_num(lat.p95, 1)} · p99 {_num(lat.p99, 1)}"
        + (
            f" · **TTFT (ms):** p50 {_num(ttft.p50, 1)} · p95 {_num(ttft.p95, 1)}"
            f" · p99 {_num(ttft.p99, 1)}"
            if ttft.count
            else ""
        )
    )
    kinds = ", ".join(f"{md_escape(k, 40)}: {v}" for k, v in totals.errors_by_kind.items())
    out.append(
        f"**Errors:** {totals.errors} of {totals.records} records"
        + (f" ({kinds})" if kinds else "")
    )
    cost, tokens = report.cost, report.tokens
    cost_text = "unknown" if cost.total is None else f"${cost.total:.4f}"
    if cost.unknown:
        cost_text += f" ({cost.unknown} records unpriced)"
    tok = tokens.total
    out.append(
        f"**Cost:** {cost_text} · **Tokens:** {'–' if tok is None else tok}{' (estimated)' if tokens.estimated else ''}"
    )
    judge = report.judge_spend
    if judge is not None:
        out.append(f"**Judge (apart from the bot):** {md_escape(judge.describe(), 200)}")
    attacks = attack_rows(report.tags)
    if attacks:
        out += ["", "### Attack success (red-team packs and strategies)", ""]
        out += ["| group | verdicts | attack success | 95% CI |", "|---|---|---|---|"]
        out.extend(
            f"| {md_escape(a.group, 60)} | {a.verdicts} | {_pct(a.success_rate)} "
            f"| {_pct(a.ci_low)} – {_pct(a.ci_high)} |"
            for a in attacks
        )
    if failing:
        out += [
            "",
            f"### Top {len(failing)} failing samples",
            "",
            "| sample | failed | input | answer | why |",
            "|---|---|---|---|---|",
        ]
        for entry in failing:
            _, sid, repeat = entry.order
            name = sid if not repeat else f"{sid} #{repeat}"
            out.append(
                f"| {md_escape(name, 40)} | {md_escape(', '.join(entry.labels), 60)} "
                f"| {md_escape(entry.question, 60)} | {md_escape(entry.answer, 60)} "
                f"| {md_escape(entry.reason, 80)} |"
            )
    out.append("")
    return "\n".join(out)
