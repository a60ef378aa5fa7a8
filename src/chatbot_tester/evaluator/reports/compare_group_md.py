"""Markdown rendering of a variant group comparison (for PR comments and step summaries)."""

from __future__ import annotations

from chatbot_tester.evaluator.compare_group_model import GroupComparison
from chatbot_tester.evaluator.reports.compare_group_html import metric_cells
from chatbot_tester.evaluator.reports.compare_md import _VERDICT_MD, escape_md, fmt_p

__all__ = ["render_group_markdown"]


def _answer(text: str | None, error: str | None = None) -> str:
    if text is not None:
        return escape_md(text[:200])
    return escape_md(f"(error: {error})" if error else "(error)")


def render_group_markdown(group: GroupComparison, *, title: str = "Variant comparison") -> str:
    """The group comparison as Markdown: one metrics table, then each variant's flips."""
    base = escape_md(group.baseline.name)
    lines = [f"## {title}", ""]
    if group.regressed:
        lines.append(
            f"**Regression** against baseline variant {base}: "
            + ", ".join(escape_md(n) for n in group.regressed)
        )
    else:
        lines.append(f"No variant regressed against baseline variant {base}.")
    for name, problem in group.problems.items():
        lines.append(f"- {escape_md(name)}: not compared ({escape_md(problem)})")
    lines.append("")
    names = [v.name for v in group.variants]
    header = ["metric", f"{base} (baseline)"] + [
        f"{escape_md(n)}: value / Δ / p adj. / verdict" for n in names
    ]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    tables = {n: {m.metric: m for m in c.metrics} for n, c in group.comparisons.items()}
    metrics = sorted({metric for t in tables.values() for metric in t})
    for metric in metrics:
        first = next((t[metric] for t in tables.values() if metric in t), None)
        base_value = "-"
        if first is not None:
            rate = first.baseline_pass_rate
            base_value = f"{100 * rate:.0f}%" if rate is not None else f"{first.baseline_mean}"
        row = [escape_md(metric), base_value]
        for n in names:
            m = tables.get(n, {}).get(metric)
            if m is None:
                row.append("-")
                continue
            x = metric_cells(m)
            row.append(
                f"{x['value']} / {x['delta']} / {fmt_p(m.p_adjusted)} / {_VERDICT_MD[m.verdict]}"
            )
        lines.append("| " + " | ".join(row) + " |")
    for n in names:
        flips = group.flipped.get(n, [])
        lines += ["", f"### Flipped samples: {escape_md(n)} vs {base}", ""]
        if not flips:
            lines.append("No sample flipped.")
            continue
        lines += [
            f"| metric | flip | sample | question | {base} | {escape_md(n)} |",
            "|---|---|---|---|---|---|",
        ]
        for f in flips:
            flip = "pass → fail" if f.flip == "pass_to_fail" else "fail → pass"
            lines.append(
                f"| {escape_md(f.metric)} | {flip} | {escape_md(f.sample_id)} | "
                f"{escape_md(f.question[:200])} | {_answer(f.baseline_answer)} | "
                f"{_answer(f.variant_answer, f.variant_error)} |"
            )
    return "\n".join(lines) + "\n"
