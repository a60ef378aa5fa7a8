"""``chatbot-tester run PIPELINE``: the whole cycle, or ``--dry-run`` to see the plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chatbot_tester.cli.run_output import json_summary, verdict_line
from chatbot_tester.cli.selection_options import selection_options

if TYPE_CHECKING:
    from chatbot_tester.evaluator.report_model import EvalReport
    from chatbot_tester.orchestrator.result import PipelineResult
    from chatbot_tester.orchestrator.selection import SampleSelection
    from chatbot_tester.orchestrator.variants import VariantsResult

__all__ = ["command"]


def _print_plan(pipeline: Path, workspace_dir: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from chatbot_tester.orchestrator import plan_pipeline

    plan = plan_pipeline(pipeline, workspace_dir=workspace_dir)
    # Piped output (CI logs, scripts) gets a wide table instead of 80-column truncation.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    console.print(f"[bold]{escape(plan.pipeline)}[/bold]: dry run, nothing called, nothing written")
    console.print(
        f"samples: {plan.samples}  turns: {plan.turns}  repeat: {plan.repeat}  "
        f"workspace: {escape(str(plan.workspace))}"
    )
    table = Table("stage", "backend", "model", "calls", "prompt tok", "completion tok", "cost USD")
    for s in plan.stages:
        table.add_row(
            escape(s.stage),
            escape(s.backend or "-"),
            escape(s.model or "-"),
            str(s.calls),
            str(s.prompt_tokens or "-"),
            str(s.completion_tokens or "-"),
            "unknown" if s.cost_usd is None else f"{s.cost_usd:.4f}",
        )
    if plan.variants:
        console.print("variants: " + escape(", ".join(plan.variants)))
    console.print(table)
    total = plan.total_cost_usd
    console.print(
        "estimated total cost: "
        + (
            "unknown (no price for some model; add runner.prices)"
            if total is None
            else f"${total:.4f}"
        )
    )
    console.print("metrics: " + escape(", ".join(plan.metrics) or "none"))
    if plan.thresholds:
        console.print("gates: " + escape("; ".join(plan.thresholds)))


def _fmt(value: object, pct: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value * 100:.1f}%" if pct else f"{value:.3g}"


def _print_summary(report: EvalReport) -> None:
    """A few lines on stderr: per-metric pass rate with its interval, latency, errors."""
    for name, m in report.metrics.items():
        click.echo(
            f"  {name}: pass {_fmt(m.pass_rate, True)} "
            f"[{_fmt(m.pass_ci_low, True)}, {_fmt(m.pass_ci_high, True)}], "
            f"mean {_fmt(m.mean)}, scored {m.scored} of {m.total}",
            err=True,
        )
    for stats, label in ((report.latency, "latency ms"), (report.ttft, "time to first token ms")):
        if stats.count:
            click.echo(
                f"  {label}: p50 {_fmt(stats.p50)}, p95 {_fmt(stats.p95)}, p99 {_fmt(stats.p99)}",
                err=True,
            )
    if report.judge_spend is not None:
        click.echo(f"  judge: {report.judge_spend.describe()} (apart from the bot)", err=True)


def _print_variants(result: VariantsResult) -> None:
    """One line per variant on stderr (verdict against the baseline), the comparison on stdout."""
    group = result.comparison
    for name, run in result.variants.items():
        if name == result.baseline:
            verdict = "baseline"
        elif name in group.problems:
            verdict = f"not compared: {group.problems[name]}"
        else:
            regressed = group.comparisons[name].regressed_metrics
            verdict = "regression in " + ", ".join(regressed) if regressed else "no regression"
            if group.comparisons[name].has_regression and not regressed:
                verdict = "regression (incomplete run)"
        own = "passed" if run.passed else "failed its gates"
        click.echo(f"{name}: {run.run_id} {own}, {verdict}", err=True)
        for line in [g.message for g in run.failed_gates] + run.problems:
            click.echo(f"  {line}", err=True)
    for key, path in sorted(result.reports.items()):
        click.echo(f"{key}: {path}", err=True)
    click.echo(str(result.reports["compare_html"]))


def _print_details(result: PipelineResult) -> None:
    if result.report is not None:
        _print_summary(result.report)
    for gate in result.failed_gates:
        click.echo(gate.message, err=True)
    for line in result.problems:
        click.echo(line, err=True)
    for fmt, path in sorted(result.reports.items()):
        click.echo(f"{fmt}: {path}", err=True)


@click.command("run")
@click.argument("pipeline", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--workspace",
    "--workspace-dir",
    "workspace_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Use this workspace instead of the pipeline's 'workspace'.",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate and print the plan; call and write nothing."
)
@click.option("--resume", "resume", metavar="RUN_ID", help="Continue an interrupted run.")
@click.option("--force", is_flag=True, help="Resume even if the dataset or backend changed.")
@click.option("--no-cache", is_flag=True, help="Disable every response cache for this run.")
# The everyday loop: which samples, how much output.
@selection_options
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary; errors and the verdict.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option(
    "--subscriber",
    "subscriber_refs",
    multiple=True,
    metavar="MODULE:FACTORY",
    help="Feed every event to FACTORY() too (repeatable), like the pipeline's 'subscribers'.",
)
def command(
    pipeline: Path,
    workspace_dir: Path | None,
    dry_run: bool,
    resume: str | None,
    force: bool,
    no_cache: bool,
    selection: SampleSelection,
    quiet: bool,
    as_json: bool,
    subscriber_refs: tuple[str, ...],
) -> None:
    """Run PIPELINE: generate the dataset, run the chatbot, evaluate, write reports.

    Progress goes to stderr, then a PASS/FAIL line with the reason; the run directory is
    the last line on stdout (``--json``: a JSON summary instead; with variants:
    one line per variant on stderr, the group's compare.html on stdout). Exit codes: 0
    passed, 1 a gate failed / errors beyond tolerance / significant regression, 2 bad
    config or input, 130 interrupted (143 by SIGTERM, 129 by SIGHUP).
    """
    if dry_run:
        _print_plan(pipeline, workspace_dir)
        return
    from chatbot_tester.orchestrator import PipelineInterrupted, run_pipeline
    from chatbot_tester.orchestrator.result import PipelineResult
    from chatbot_tester.orchestrator.subscribers import load_subscribers

    try:
        result = run_pipeline(
            pipeline,
            workspace_dir=workspace_dir,
            resume=resume,
            force=force,
            cache=not no_cache,
            progress=not (quiet or as_json),
            selection=selection,
            subscribers=load_subscribers(subscriber_refs, Path.cwd(), where="--subscriber"),
        )
    except PipelineInterrupted as exc:
        from chatbot_tester.cli import signals

        click.echo(
            f"interrupted ({signals.name()}): resume with --resume {exc.run_dir.name}", err=True
        )
        click.echo(str(exc.run_dir))
        sys.exit(signals.exit_code())
    if not isinstance(result, PipelineResult):  # a VariantsResult (not imported for one run)
        _print_variants(result)
        if result.exit_code:
            sys.exit(result.exit_code)
        return
    if not quiet:
        _print_details(result)
    click.echo(verdict_line(result), err=True)
    if as_json:
        click.echo(json.dumps(json_summary(result), indent=2, default=str))
    else:
        click.echo(str(result.run_dir))
    if result.exit_code:
        sys.exit(result.exit_code)
