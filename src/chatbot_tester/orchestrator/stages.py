"""The run and evaluate stages as the orchestrator drives them.

Each function builds what its stage needs from the pipeline config (backend, cache, metric
context), calls the stage's public API, and cleans up. The stages themselves never import
each other; they meet here and in ``common``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chatbot_tester.common.artifacts.workspace import DATASET, RESULTS, RunDir, Workspace
from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.events import EventBus, Notice
from chatbot_tester.errors import ConfigError
from chatbot_tester.orchestrator.result import PipelineResult

if TYPE_CHECKING:
    from chatbot_tester.runner import RunSummary

__all__ = ["evaluate_stage", "resolve_baseline", "run_stage"]


async def run_stage(
    config: PipelineConfig,
    ws: Workspace,
    dataset_path: Path,
    results_path: Path,
    *,
    resume: bool,
    cache: bool,
    bus: EventBus,
) -> RunSummary:
    """Send the dataset to the chatbot under test (the ``run`` and ``execute`` commands)."""
    from chatbot_tester.runner import run_job

    runner = config.runner
    backend = backend_registry.create(
        runner.backend, base_dir=config.base_dir, **runner.resolved_options()
    )
    if runner.stream and not type(backend).supports_streaming:
        bus.emit(
            Notice(
                "warning",
                f"runner.stream is on but backend '{runner.backend}' cannot stream; "
                "time to first token will not be measured",
            )
        )
    response_cache = None
    if runner.cache and cache:
        from chatbot_tester.common.artifacts.cache import open_cache

        response_cache = open_cache(ws.root)
    try:
        summary = await run_job(
            dataset_path,
            runner,
            results_path,
            backend=backend,
            base_dir=config.base_dir,
            bus=bus,
            cache=response_cache,
            resume=resume,
        )
    finally:
        await backend.aclose()
        if response_cache is not None:
            response_cache.close()
    return summary


def resolve_baseline(config: PipelineConfig, ws: Workspace, current: RunDir) -> RunDir | None:
    """The run named by ``evaluator.baseline`` (id, path, or ``latest`` = previous run)."""
    ref = config.evaluator.baseline
    if ref is None:
        return None
    if ref == "latest":
        earlier = [r for r in ws.list_runs() if r.run_id < current.run_id]
        for candidate in reversed(earlier):
            if candidate.file("scores.jsonl").exists():
                return candidate
        return None
    path = Path(ref)
    if not path.is_absolute() and (config.base_dir / path).exists():
        ref = str((config.base_dir / path).resolve())
    return ws.open_run(ref)


async def evaluate_stage(
    config: PipelineConfig,
    ws: Workspace,
    run: RunDir,
    result: PipelineResult,
    *,
    cache: bool,
    bus: EventBus,
) -> None:
    """Score the run, write the reports, check gates and compare with the baseline."""
    from chatbot_tester.evaluator import evaluate_run, write_reports
    from chatbot_tester.evaluator.metrics import MetricContext

    ev = config.evaluator
    context = MetricContext(
        judge=ev.judge,
        workspace_dir=ws.root,
        base_dir=config.base_dir,
        cache=ev.cache and cache,
    )
    evaluation = await evaluate_run(
        run.file(DATASET),
        run.file(RESULTS),
        ev,
        run.path,
        context=context,
        bus=bus,
        resume=True,
        pipeline_name=config.name,
        run_id=run.run_id,
    )
    result.summary = evaluation.summary
    result.failed_gates = [g.message for g in evaluation.gates if not g.passed]
    formats = list(ev.report.formats)
    result.reports = write_reports(
        evaluation, run.file(DATASET), run.file(RESULTS), run.path, formats
    )
    baseline = resolve_baseline(config, ws, run)
    if ev.baseline is not None and baseline is None:
        bus.emit(Notice("warning", "no earlier run to compare with (evaluator.baseline: latest)"))
    if baseline is not None:
        from chatbot_tester.evaluator.compare import compare_runs, write_comparison

        try:
            comparison = compare_runs(
                baseline.path,
                run.path,
                alpha=ev.compare.alpha,
                correction=ev.compare.correction,
                min_effect=ev.compare.min_effect,
                allow_partial=True,  # this run is being evaluated now; it is not a crash
            )
        except ConfigError as exc:  # e.g. no shared sample ids: the run itself is fine
            result.problems.append(f"cannot compare with baseline run {baseline.run_id}: {exc}")
            return
        result.comparison = comparison.model_dump(mode="json")
        result.reports.update(write_comparison(comparison, run.path))
        if comparison.exit_code != 0:
            result.problems.append(
                f"significant regression against baseline run {baseline.run_id}: "
                + ", ".join(comparison.regressed_metrics)
            )
