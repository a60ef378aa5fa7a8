"""``chatbot-tester execute PIPELINE --dataset D.jsonl``: only the runner stage, by hand.

Sends every sample of an existing dataset to the chatbot configured in the pipeline's
``runner`` section and appends one record per sample to ``results.jsonl`` (``-o``). The
results path is the last line on stdout, so the stages chain in shell scripts. Exit code 1
when more samples ended in errors than ``runner.max_error_rate`` allows (or the budget ran
out); 2 when every first request failed alike (bad key, no quota, unknown model); 130 on
Ctrl-C, after which ``--resume`` continues where the run stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from chatbot_tester.common.config import PipelineConfig
    from chatbot_tester.common.events import EventBus
    from chatbot_tester.runner.run import RunSummary

__all__ = ["command"]


async def _execute(
    config: PipelineConfig,
    dataset: Path,
    output: Path,
    *,
    resume: bool,
    use_cache: bool,
    bus: EventBus,
) -> RunSummary:
    from chatbot_tester.common.artifacts.remote_workspace import config_workspace
    from chatbot_tester.orchestrator.stages import run_stage

    try:
        return await run_stage(
            config,
            config_workspace(config),
            dataset,
            output,
            resume=resume,
            cache=use_cache,
            bus=bus,
        )
    finally:
        await bus.aclose()


def _describe(summary: RunSummary) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary.errors_by_kind.items()))
    text = (
        f"{summary.status}: {summary.records} records ({summary.ok} ok, {summary.errors} errors"
        + (f": {kinds}" if kinds else "")
        + f"), {summary.completed} new, {summary.skipped_existing} kept, {summary.seconds:.2f} s"
    )
    if summary.cost_usd is not None:
        text += f", ${summary.cost_usd:.4f}"
    return text


@click.command("execute")
@click.argument("pipeline", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--dataset",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="dataset.jsonl to send (one sample per line).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("results.jsonl"),
    show_default=True,
    help="results.jsonl to append to.",
)
@click.option("--resume", is_flag=True, help="Continue OUTPUT: send only samples without a record.")
@click.option("--no-cache", is_flag=True, help="Ignore runner.cache for this run.")
@click.option("--concurrency", type=click.IntRange(1, 4096), help="Override runner.concurrency.")
@click.pass_context
def command(
    ctx: click.Context,
    pipeline: Path,
    dataset: Path,
    output: Path,
    resume: bool,
    no_cache: bool,
    concurrency: int | None,
) -> None:
    """Send a dataset to the pipeline's chatbot and write results.jsonl."""
    import asyncio

    from chatbot_tester.common.events import EventBus
    from chatbot_tester.common.plugins import load_config
    from chatbot_tester.errors import RunAborted
    from chatbot_tester.orchestrator.progress import ProgressDisplay

    config = load_config(pipeline)
    if concurrency is not None:
        runner = config.runner.model_copy(update={"concurrency": concurrency})
        config = config.model_copy(update={"runner": runner})  # keeps base_dir (private)
    bus = EventBus()
    display = ProgressDisplay()
    bus.subscribe(display)
    try:
        summary = asyncio.run(
            _execute(config, dataset, output, resume=resume, use_cache=not no_cache, bus=bus)
        )
    except KeyboardInterrupt:
        import sys

        from chatbot_tester.cli import signals

        display.close()
        click.echo(
            f"interrupted ({signals.name()}): records so far are in {output}; "
            "continue with --resume",
            err=True,
        )
        sys.exit(signals.exit_code())
    finally:
        display.close()
    if summary.status == "aborted":
        raise RunAborted(summary.message or "the run was aborted")
    click.echo(_describe(summary), err=True)
    failed = False
    if summary.status == "budget_exhausted":
        click.echo(
            f"{summary.message}; raise runner.max_cost_usd and continue with --resume", err=True
        )
        failed = True
    rate, allowed = summary.error_rate, config.runner.max_error_rate
    if summary.errors and rate > allowed:
        click.echo(
            f"{summary.errors} of {summary.records} samples ended in errors ({rate:.1%}), "
            f"above runner.max_error_rate {allowed:.1%}",
            err=True,
        )
        failed = True
    click.echo(str(output))
    if failed:
        ctx.exit(1)
