"""``chatbot-tester compare BASELINE CANDIDATE``: paired comparison of two evaluated runs.

BASELINE and CANDIDATE are run directories or run ids in the workspace (``latest`` works).
Prints a table and writes compare.md, compare.html and compare.json into the candidate's run
directory (``--no-write`` skips that); ``--format md|html|json`` renders a report to ``-o
FILE`` or stdout instead of the table. The Markdown summary is appended to
``$GITHUB_STEP_SUMMARY`` when set. Exit code 1 when the candidate regressed significantly
(Holm-corrected across metrics) or did not complete, 2 when the runs share no sample or are
not like-for-like (``--force`` compares anyway), else 0. Every untrusted string (run ids, metric names,
sample ids) is printed with terminal escapes stripped and rich markup escaped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from chatbot_tester.cli.storage_options import storage_option

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.workspace import RunDir, Workspace
    from chatbot_tester.evaluator.compare import Comparison

__all__ = ["command", "print_table"]

_SUFFIX_FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}
_STYLE = {"regression": "bold red", "improvement": "bold green", "no_change": "dim"}
_MAX_IDS = 10
"""Regressed sample ids printed per metric."""


def print_table(comparison: Comparison, *, err: bool = False) -> None:
    """Print the comparison as a rich table (stdout, or stderr with ``err``)."""
    from rich.console import Console
    from rich.table import Table

    from chatbot_tester.evaluator.reports.compare_md import fmt_num, fmt_p, fmt_signed
    from chatbot_tester.evaluator.reports.text import terminal_text as safe

    c = comparison
    console = Console(file=sys.stderr if err else sys.stdout, highlight=False)
    title = safe(f"{c.baseline.run_id} → {c.candidate.run_id}")
    table = Table(title=title, title_justify="left")
    table.add_column("metric", overflow="fold", min_width=8)
    for col in ("n", "missing", "base", "cand"):
        table.add_column(col, justify="right")
    table.add_column("Δ mean [CI]")
    table.add_column("pass rate")
    table.add_column("flips", justify="right")
    table.add_column("p", justify="right")
    table.add_column("p adj.", justify="right")
    table.add_column("verdict")
    for m in c.metrics:
        ci = ""
        if m.delta_ci_low is not None and m.delta_ci_high is not None:
            ci = f" [{fmt_signed(m.delta_ci_low)}, {fmt_signed(m.delta_ci_high)}]"
        rate = "-"
        if m.baseline_pass_rate is not None and m.candidate_pass_rate is not None:
            rate = f"{m.baseline_pass_rate:.0%} → {m.candidate_pass_rate:.0%}"
        table.add_row(
            safe(m.metric),
            str(m.n_paired),
            str(m.missing_in_candidate),
            fmt_num(m.baseline_mean),
            fmt_num(m.candidate_mean),
            fmt_signed(m.delta) + ci,
            rate,
            f"−{m.pass_to_fail}/+{m.fail_to_pass}" if m.n_pass_paired else "-",
            fmt_p(m.p_value),
            fmt_p(m.p_adjusted),
            f"[{_STYLE[m.verdict]}]{m.verdict.replace('_', ' ')}[/]",
        )
    console.print(table)
    for s in c.operational:
        console.print(
            f"{s.name}: {fmt_num(s.baseline)} → {fmt_num(s.candidate)} ({fmt_signed(s.delta)})"
        )
    if c.only_in_baseline or c.only_in_candidate:
        console.print(
            f"unpaired samples: {len(c.only_in_baseline)} only in baseline, "
            f"{len(c.only_in_candidate)} only in candidate"
        )
    for m in c.metrics:
        if m.verdict != "regression" or not m.regressions:
            continue
        errored = set(m.error_regressions)
        ids = [safe(i) + (" (error)" if i in errored else "") for i in m.regressions[:_MAX_IDS]]
        more = len(m.regressions) - _MAX_IDS
        console.print(
            f"{safe(m.metric)} pass→fail: {', '.join(ids)}"
            + (f" and {more} more" if more > 0 else "")
        )
    for note in c.notes:
        console.print(f"[dim]note: {safe(note)}[/]")
    for diff in c.differences:
        console.print(f"[yellow]not like-for-like:[/] {safe(diff)}")
    if c.has_regression:
        names = ", ".join(safe(n) for n in c.regressed_metrics) or "candidate run incomplete"
        console.print(f"[bold red]regression:[/] {names} (alpha {c.alpha:g}, {c.correction})")
    else:
        console.print(f"[green]no significant regression[/] (alpha {c.alpha:g})")


def _resolve(ws: Workspace, ref: str) -> RunDir:
    return ws.open_run(ref)


@click.command("compare")
@click.argument("baseline")
@click.argument("candidate")
@click.option(
    "--workspace",
    default="workspace",
    show_default=True,
    help="Workspace holding the runs (for run ids): a directory or a URL such as s3://b/p.",
)
@storage_option
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level.",
)
@click.option(
    "--correction",
    type=click.Choice(["holm", "none"]),
    default="holm",
    show_default=True,
    help="Familywise correction across metrics before the exit code is decided.",
)
@click.option(
    "--min-effect",
    "min_effect",
    multiple=True,
    metavar="METRIC=REL",
    help="Relative margin a metric must move by to count (default 0.1 for latency/cost).",
)
@click.option(
    "--statistic",
    "statistic",
    multiple=True,
    metavar="METRIC=STAT",
    help="What a graded metric is compared on: mean (default), p50 or p95, e.g. latency=p95.",
)
@click.option("--force", is_flag=True, help="Compare runs that are not like-for-like.")
@click.option(
    "--allow-partial", is_flag=True, help="Do not treat an incomplete candidate as a regression."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "md", "html", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file.",
)
@click.option(
    "--no-write",
    is_flag=True,
    help="Do not write compare.md/html/json into the candidate run directory.",
)
def command(
    baseline: str,
    candidate: str,
    workspace: str,
    storage_options: tuple[str, ...],
    alpha: float,
    correction: str,
    min_effect: tuple[str, ...],
    statistic: tuple[str, ...],
    force: bool,
    allow_partial: bool,
    fmt: str,
    output: Path | None,
    no_write: bool,
) -> None:
    """Compare CANDIDATE with BASELINE (run dirs or run ids); exit 1 on a significant regression.

    compare.md, compare.html and compare.json are written into the CANDIDATE run directory
    unless --no-write. With -o and no --format, the format follows the file suffix (.md,
    .html, .json).
    """
    from chatbot_tester.common.artifacts.storage import atomic_write_text
    from chatbot_tester.errors import UsageError
    from chatbot_tester.evaluator.compare import compare_runs, write_comparison
    from chatbot_tester.evaluator.reports import append_step_summary
    from chatbot_tester.evaluator.reports.compare_md import render_markdown

    if fmt == "text" and output is not None:
        fmt = _SUFFIX_FORMATS.get(output.suffix.lower(), "")
        if not fmt:
            raise UsageError(
                f"-o {output}: cannot tell the format from the suffix; add --format md, html or json"
            )
    from chatbot_tester.cli.storage_options import parse_storage_options
    from chatbot_tester.common.artifacts.remote_workspace import open_workspace

    ws = open_workspace(workspace, options=parse_storage_options(storage_options) or None)
    candidate_run = _resolve(ws, candidate)
    candidate_dir = candidate_run.path
    margins: dict[str, float] = {}
    for item in min_effect:
        name, _, rel = item.partition("=")
        try:
            margins[name] = float(rel)
        except ValueError:
            raise UsageError(
                f"--min-effect {item}: expected METRIC=NUMBER, e.g. latency=0.1"
            ) from None
    choices: dict[str, Literal["mean", "p50", "p95"]] = {"mean": "mean", "p50": "p50", "p95": "p95"}
    stats: dict[str, Literal["mean", "p50", "p95"]] = {}
    for item in statistic:
        name, _, stat = item.partition("=")
        if stat not in choices:
            raise UsageError(f"--statistic {item}: expected METRIC=mean|p50|p95, e.g. latency=p95")
        stats[name] = choices[stat]
    comparison = compare_runs(
        _resolve(ws, baseline).path,
        candidate_dir,
        alpha=alpha,
        correction="none" if correction == "none" else "holm",
        min_effect=margins,
        statistic=stats,
        force=force,
        allow_partial=allow_partial,
    )
    written: dict[str, Path] = {}
    if not no_write:
        written = write_comparison(comparison, candidate_dir, step_summary=False)
        ws.publish(candidate_run)
    text: str | None = None
    if fmt == "md":
        text = render_markdown(comparison)
    elif fmt == "html":
        from chatbot_tester.evaluator.reports.compare_html import render_html

        text = render_html(comparison)
    elif fmt == "json":
        text = comparison.model_dump_json(indent=2) + "\n"
    if text is None:
        print_table(comparison)
    elif output is not None:
        atomic_write_text(output, text)
        print_table(comparison)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    for path in written.values():
        click.echo(f"wrote {path}", err=True)
    append_step_summary(render_markdown(comparison))
    sys.exit(comparison.exit_code)  # not ctx.exit: main() runs click with standalone_mode=False
