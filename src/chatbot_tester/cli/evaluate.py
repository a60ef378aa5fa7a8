"""``chatbot-tester evaluate``: score a run again (never calling the chatbot) and write reports.

Two forms:

* ``evaluate RUN [--config PIPELINE] [--metric TYPE ...]`` re-scores a run directory (or run
  id) with the run's own ``pipeline.yaml`` snapshot, or with the metrics and thresholds of
  another pipeline file. When the metrics and thresholds are those of the run, scores and
  reports go to the run directory and existing scores are reused (only missing or errored
  ones are computed). When they differ (or with ``--no-resume``) everything goes to a fresh
  ``<run>/evaluations/<timestamp>/`` folder so the run's own scores and reports are never
  overwritten.
* ``evaluate --config PIPELINE --dataset D.jsonl --results R.jsonl -o OUTDIR`` for stages
  chained by hand.

Both forms run the pipeline's evaluate stage (``orchestrator.stages.evaluate_job``): the same
one-pass reports and the same decision as ``run``, so the exit code is 1 when a gate fails,
errors exceed ``runner.max_error_rate``, a metric could not score, or the run regressed
against ``evaluator.baseline`` (one line per reason on stderr), 0 otherwise.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chatbot_tester.cli.storage_options import parse_storage_options, storage_option

if TYPE_CHECKING:
    from chatbot_tester.evaluator.report_model import EvalReport
    from chatbot_tester.orchestrator.result import StageEvaluation
    from chatbot_tester.orchestrator.stages import EvaluateJob

__all__ = ["command"]

_FORMATS = ("html", "json", "junit", "md")


def _with_metrics(evaluator: Any, metrics: tuple[str, ...]) -> Any:
    """The evaluator config with only the ``--metric`` names (config options kept when known).

    Gates on a configured metric that was left out are dropped (with a note on stderr);
    gates on sections such as ``latency.p95`` stay.
    """
    if not metrics:
        return evaluator
    from chatbot_tester.common.config import MetricSpec
    from chatbot_tester.common.text import clean_text
    from chatbot_tester.evaluator.gates import parse_gate

    by_label = {spec.label: spec for spec in evaluator.metrics}
    specs = [by_label.get(name) or MetricSpec(type=name) for name in dict.fromkeys(metrics)]
    chosen = {spec.label for spec in specs}
    thresholds = []
    for expr in evaluator.thresholds:
        metric = parse_gate(expr)[0].rpartition(".")[0]
        if metric in by_label and metric not in chosen:
            click.echo(
                clean_text(f"gate skipped: {expr} (metric '{metric}' not selected)"), err=True
            )
            continue
        thresholds.append(expr)
    return evaluator.model_copy(update={"metrics": specs, "thresholds": thresholds})


def _baseline(config: Any, ws: Any, run_dir: Any) -> Path | None:
    """The run named by ``evaluator.baseline``, found as ``run`` finds it (or ``None``)."""
    if config.evaluator.baseline is None:
        return None
    from chatbot_tester.orchestrator.stages import resolve_baseline

    found = resolve_baseline(config, ws, run_dir)
    if found is None:
        click.echo("no earlier run to compare with (evaluator.baseline: latest)", err=True)
        return None
    return Path(found.path)


def _identity(evaluator: Any) -> Any:
    return (
        [spec.model_dump(mode="json", exclude_none=True) for spec in evaluator.metrics],
        list(evaluator.thresholds),
    )


def _run_inputs(
    run_ref: str, workspace: str | None, config_path: Path | None, options: dict[str, Any]
) -> tuple[Any, Any, Path, str, str, Any, Any]:
    """(run dir, config, base dir, pipeline name, run id, snapshot evaluator or None, workspace)."""
    from chatbot_tester.common.artifacts.remote_workspace import config_workspace, open_workspace
    from chatbot_tester.common.artifacts.workspace import CONFIG_SNAPSHOT, MANIFEST, Workspace
    from chatbot_tester.common.yaml_loader import load_pipeline
    from chatbot_tester.errors import UsageError

    given = load_pipeline(config_path) if config_path is not None else None
    if given is not None:
        ws = config_workspace(given, workspace, options=options)
    else:
        ws = open_workspace(workspace or "workspace", options=options or None)
    run = ws.open_run(run_ref)
    if run.path.parent != ws.runs_dir:  # a run given by path: its own workspace holds its baseline
        ws = Workspace(run.path.parent.parent)
    snapshot = None
    if run.file(CONFIG_SNAPSHOT).is_file():
        snapshot = load_pipeline(run.file(CONFIG_SNAPSHOT))
    elif run.file(MANIFEST).is_file() and run.read_manifest().config:
        snapshot = load_pipeline(run.read_manifest().config)
    config = given or snapshot
    if config is None:
        raise UsageError(f"{run.path} has no pipeline.yaml snapshot: pass --config PIPELINE")
    manifest = run.read_manifest() if run.file(MANIFEST).is_file() else None
    pipeline = manifest.pipeline if manifest is not None else config.name
    if given is not None:
        base_dir = config.base_dir
    else:  # the snapshot's relative paths belong to the original pipeline file's directory
        recorded = run.read_manifest().base_dir
        base_dir = Path(recorded) if recorded and Path(recorded).is_dir() else Path.cwd()
    from chatbot_tester.common.plugins import import_config_plugins

    import_config_plugins(config, base_dir)
    evaluator = snapshot.evaluator if snapshot else None
    return run, config, base_dir, pipeline, run.run_id, evaluator, ws


@click.command("evaluate")
@click.argument("run", required=False)
@click.option("--workspace", help="Workspace holding RUN (a directory or a URL such as s3://b/p).")
@storage_option
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Pipeline file whose metrics and thresholds to use.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="TYPE",
    help="Score only these metrics (repeatable).",
)
@click.option(
    "--no-resume", is_flag=True, help="Score everything again instead of reusing scores.jsonl."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(_FORMATS),
    help="Report formats (repeatable; default: the pipeline's evaluator.report.formats).",
)
@click.option(
    "--dataset",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="dataset.jsonl (with --results and -o).",
)
@click.option(
    "--results",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="results.jsonl to score.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for scores and reports.",
)
def command(
    run: str | None,
    workspace: str | None,
    storage_options: tuple[str, ...],
    config_path: Path | None,
    metrics: tuple[str, ...],
    no_resume: bool,
    formats: tuple[str, ...],
    dataset: Path | None,
    results: Path | None,
    output: Path | None,
) -> None:
    """Score RUN again (or --dataset/--results into -o) and write reports; the chatbot is not called.

    Exit codes: 0 passed, 1 a gate failed / errors beyond tolerance / unscored samples /
    significant regression, 2 bad config or input.
    """
    from chatbot_tester.common.artifacts.workspace import DATASET, RESULTS
    from chatbot_tester.errors import UsageError

    if run is None:
        if config_path is None or dataset is None or results is None or output is None:
            raise UsageError(
                "give a RUN (id or directory) or all of --config, --dataset, --results and -o"
            )
        from chatbot_tester.common.plugins import load_config

        config = load_config(config_path)
        evaluator = _with_metrics(config.evaluator, metrics)
        from chatbot_tester.common.artifacts.remote_workspace import config_workspace

        options = parse_storage_options(storage_options)
        ws, run_dir = config_workspace(config, workspace, options=options), None
        out_dir, base_dir, pipeline, run_id = output, config.base_dir, config.name, ""
        resume, baseline = not no_resume, None
    else:
        if dataset is not None or results is not None or output is not None:
            raise UsageError("--dataset, --results and -o are for evaluating without a RUN")
        run_dir, config, base_dir, pipeline, run_id, snapshot, ws = _run_inputs(
            run, workspace, config_path, parse_storage_options(storage_options)
        )
        evaluator = _with_metrics(config.evaluator, metrics)
        dataset, results = run_dir.file(DATASET), run_dir.file(RESULTS)
        same = snapshot is not None and _identity(snapshot) == _identity(evaluator)
        if same and not no_resume:
            out_dir, resume = run_dir.path, True
        else:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            out_dir, resume = run_dir.path / "evaluations" / stamp, False
        baseline = _baseline(config, ws, run_dir)
    if not dataset.is_file():
        raise UsageError(f"{dataset}: no dataset file (was the run interrupted before this stage?)")
    from chatbot_tester.common.artifacts.run_files import require

    # results.jsonl, or results.parquet alone (an archived run); pyarrow's hint if needed
    results = require(results, "results", "was the run interrupted before this stage?")
    if evaluator.report.columnar:  # before any scoring: the install hint, exit 2
        from chatbot_tester.common.artifacts.columnar import check_pyarrow

        check_pyarrow()
    if evaluator.executor == "ray":  # likewise before anything is written
        from chatbot_tester.common.ray_cluster import check_ray

        check_ray("evaluator.executor")
    evaluator = evaluator.with_ray_from(config.runner)
    from chatbot_tester.orchestrator.stages import EvaluateJob

    job = EvaluateJob(
        dataset=dataset,
        results=results,
        out_dir=out_dir,
        evaluator=evaluator,
        max_error_rate=config.runner.max_error_rate,
        workspace_dir=ws.root,
        base_dir=base_dir,
        pipeline_name=pipeline,
        run_id=run_id,
        resume=resume,
        baseline=baseline,
        formats=tuple(formats) or None,
        plugins=tuple(config.plugins),
    )
    outcome = _evaluate(job)
    if run_dir is not None:
        ws.publish(run_dir)  # a remote workspace gets the new scores and reports
        from chatbot_tester.orchestrator.run_record import record_run

        record_run(config, ws, run_dir.run_id)  # a shared index (index_url) shows the verdict
    from chatbot_tester.common.text import clean_text

    decision = outcome.report.decision
    _print_summary(outcome.report)
    for fmt, path in sorted(outcome.reports.items()):
        click.echo(f"{fmt}: {path}", err=True)
    for line in decision.reasons:  # the same reasons, in the same order, as ``run`` prints
        click.echo(clean_text(line), err=True)
    click.echo(str(out_dir.resolve()))
    if not decision.passed:
        sys.exit(decision.exit_code)


def _evaluate(job: EvaluateJob) -> StageEvaluation:
    """Run the pipeline's evaluate stage on ``job`` with a progress display."""
    import anyio

    from chatbot_tester.common.events import EventBus
    from chatbot_tester.orchestrator.progress import ProgressDisplay
    from chatbot_tester.orchestrator.stages import evaluate_job

    bus = EventBus()
    bus.subscribe(ProgressDisplay())

    async def main() -> StageEvaluation:
        try:
            return await evaluate_job(job, bus=bus)
        finally:
            await bus.aclose()

    return anyio.run(main)


def _print_summary(report: EvalReport) -> None:
    """A few lines on stderr: each metric's mean and pass rate, and "scored n of N".

    Metric names come from configs and datasets: escapes and control characters are stripped.
    """
    from chatbot_tester.common.text import clean_text

    for name, m in report.metrics.items():
        mean = "–" if m.mean is None else f"{m.mean:.3f}"
        rate = "–" if m.pass_rate is None else f"{100 * m.pass_rate:.1f}%"
        click.echo(
            f"{clean_text(name)}: mean {mean}, pass rate {rate}, scored {m.scored} of {m.total}"
            + (f", {m.errors} errors" if m.errors else "")
            + (
                f", flaky {m.flaky} ({100 * (m.flip_rate or 0):.1f}% of samples)"
                if m.flaky is not None
                else ""
            ),
            err=True,
        )
    if report.judge_spend is not None:
        click.echo(f"judge: {report.judge_spend.describe()} (apart from the bot)", err=True)
