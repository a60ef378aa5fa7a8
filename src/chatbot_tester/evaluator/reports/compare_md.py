"""Markdown rendering of a run comparison (for PR comments and ``$GITHUB_STEP_SUMMARY``).

Metric names and sample ids come from datasets and configs, so they are escaped: terminal
escapes and control characters are stripped (``reports.text.clean_text``), table cells cannot
break the table, and Markdown/HTML syntax in them is shown, not interpreted.
"""

from __future__ import annotations

import re

from chatbot_tester.evaluator.compare_model import Comparison, MetricComparison
from chatbot_tester.evaluator.reports.text import clean_text

__all__ = [
    "MAX_IDS",
    "code_md",
    "escape_md",
    "fmt_num",
    "fmt_p",
    "fmt_signed",
    "headline",
    "render_markdown",
]

MAX_IDS = 20
"""Sample ids listed per metric and list before "... and N more"."""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
_VERDICT_MD = {
    "regression": "🔴 regression",
    "improvement": "🟢 improvement",
    "no_change": "⚪ no change",
}


def escape_md(text: str) -> str:
    """``text`` safe inside a Markdown table cell or list item (one line, syntax escaped)."""
    flat = " ".join(clean_text(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat).replace("&", "&amp;")


def code_md(text: str) -> str:
    """``text`` as an inline code span (outside tables): one line, backticks removed.

    Nothing is interpreted inside a code span, so no other escaping is needed (or possible:
    backslashes would show).
    """
    flat = " ".join(clean_text(text).replace("`", "'").split())
    return f"`{flat}`"


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number for a report cell (``-`` when missing), trailing zeros trimmed."""
    if value is None:
        return "-"
    if value != 0 and abs(value) < 10.0**-digits:
        return f"{value:.2e}"
    places = 1 if abs(value) >= 100 else digits
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_signed(value: float | None, digits: int = 3) -> str:
    """A delta with an explicit sign, ``-`` when missing."""
    if value is None:
        return "-"
    text = fmt_num(abs(value), digits)
    if text == "0":
        return "0"
    return ("+" if value > 0 else "−") + text


def fmt_p(value: float | None) -> str:
    """A p-value for a report cell."""
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci(m: MetricComparison) -> str:
    if m.delta_ci_low is None or m.delta_ci_high is None:
        return ""
    return f" [{fmt_signed(m.delta_ci_low)}, {fmt_signed(m.delta_ci_high)}]"


def _ids(ids: list[str], errored: list[str] | None = None) -> str:
    marked = set(errored or ())
    shown = ", ".join(code_md(i) + (" (error)" if i in marked else "") for i in ids[:MAX_IDS])
    more = len(ids) - MAX_IDS
    return shown + (f" and {more} more" if more > 0 else "")


def headline(c: Comparison) -> list[str]:
    """The verdict lines shown first: missing samples, a partial candidate, the decision."""
    out: list[str] = []
    missing = max([c.missing_in_candidate, *(m.missing_in_candidate for m in c.metrics)])
    if missing:
        out.append(
            f"**{missing} baseline samples are missing, errored or unscored in the candidate** "
            "(counted as fails / worst values)."
        )
    if c.partial_candidate:
        state = "accepted with --allow-partial" if c.allow_partial else "a regression"
        out.append(f"**The candidate run did not complete** ({state}).")
    correction = "Holm-corrected" if c.correction == "holm" else "uncorrected"
    regressed = c.regressed_metrics
    if regressed:
        names = ", ".join(code_md(n) for n in regressed)
        out.append(f"**Regression** in {names} (alpha {c.alpha:g}, {correction}).")
    elif c.has_regression:
        out.append(f"**Regression**: the candidate is partial (alpha {c.alpha:g}).")
    else:
        out.append(f"**No significant regression** (alpha {c.alpha:g}, {correction}).")
    return out


def render_markdown(comparison: Comparison, *, title: str = "Run comparison") -> str:
    """The comparison as GitHub-flavoured Markdown."""
    c = comparison
    out = [f"## {escape_md(title)}", ""]
    out += headline(c)
    out += [
        "",
        f"Baseline {code_md(c.baseline.run_id)} ({c.baseline.samples} samples) → "
        f"candidate {code_md(c.candidate.run_id)} ({c.candidate.samples} samples).",
    ]
    if c.differences:
        out += ["", "**Not like-for-like (compared with --force):**", ""]
        out += [f"- {escape_md(d)}" for d in c.differences]
    out += [
        "",
        "| metric | better | n | missing | baseline | candidate | Δ mean [CI] | pass rate | "
        "pass→fail | fail→pass | p | p adj. | verdict |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for m in c.metrics:
        rate = "-"
        if m.baseline_pass_rate is not None and m.candidate_pass_rate is not None:
            rate = f"{m.baseline_pass_rate:.0%} → {m.candidate_pass_rate:.0%}"
        out.append(
            f"| {escape_md(m.metric)} | {m.direction} | {m.n_paired} | {m.missing_in_candidate} | "
            f"{fmt_num(m.baseline_mean)} | "
            f"{fmt_num(m.candidate_mean)} | {fmt_signed(m.delta)}{_ci(m)} | {rate} | "
            f"{m.pass_to_fail} | {m.fail_to_pass} | {fmt_p(m.p_value)} | "
            f"{fmt_p(m.p_adjusted)} | {_VERDICT_MD[m.verdict]} |"
        )
    if c.operational:
        out += ["", "| operational | baseline | candidate | Δ |", "|---|---:|---:|---:|"]
        for s in c.operational:
            out.append(
                f"| {escape_md(s.name)} | {fmt_num(s.baseline)} | {fmt_num(s.candidate)} | "
                f"{fmt_signed(s.delta)} |"
            )
    flips = [m for m in c.metrics if m.regressions or m.improvements]
    if flips:
        out += ["", "### Flipped samples", ""]
        for m in flips:
            if m.regressions:
                out.append(
                    f"- **{escape_md(m.metric)}** pass→fail: "
                    f"{_ids(m.regressions, m.error_regressions)}"
                )
            if m.improvements:
                out.append(f"- **{escape_md(m.metric)}** fail→pass: {_ids(m.improvements)}")
    if c.only_in_baseline or c.only_in_candidate:
        out += ["", "### Unpaired samples", ""]
        if c.only_in_baseline:
            out.append(f"- only in baseline: {_ids(c.only_in_baseline)}")
        if c.only_in_candidate:
            out.append(f"- only in candidate: {_ids(c.only_in_candidate)}")
    if c.notes:
        out += ["", *[f"> {escape_md(n)}" for n in c.notes]]
    return "\n".join(out) + "\n"
