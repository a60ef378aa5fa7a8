"""The run and evaluate stages as the orchestrator drives them.

Each function builds what its stage needs from the pipeline config (backend, cache, metric
context), calls the stage's public API, and cleans up. The stages themselves never import
each other; they meet here and in ``common``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.artifacts.workspace import (
    DATASET,
    REPORT_JSON,
    RESULTS,
    RunDir,
    Workspace,
)
from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.events import EventBus, Notice
from chatbot_tester.errors import ConfigError
from chatbot_tester.orchestrator.result import StageEvaluation

if TYPE_CHECKING:
    from chatbot_tester.evaluator.report_model import EvalReport
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


def _baseline_report(baseline: RunDir | None) -> EvalReport | None:
    """The baseline run's report.json as a model, when it has a readable one."""
    from chatbot_tester.evaluator.report_model import EvalReport

    if baseline is None:
        return None
    try:
        return EvalReport.model_validate_json(baseline.file(REPORT_JSON).read_bytes())
    except (OSError, ValueError):
        return None


async def evaluate_stage(
    config: PipelineConfig,
    ws: Workspace,
    run: RunDir,
    *,
    cache: bool,
    bus: EventBus,
    formats: Sequence[str] | None = None,
) -> StageEvaluation:
    """Score the run, check gates, compare with the baseline, decide, and write the reports.

    One pass: the evaluator's rows go straight to the reporters (``report.formats``, or
    ``formats``) while the records are scored; the report files are completed once the
    run's decision (gates, errors beyond ``runner.max_error_rate``, unscored samples, a
    baseline regression) is known, so every report and the exit code agree.
    """
    from chatbot_tester.evaluator import evaluate_run
    from chatbot_tester.evaluator.decision import decide
    from chatbot_tester.evaluator.metrics import MetricContext
    from chatbot_tester.evaluator.reports.json_report import render_json
    from chatbot_tester.orchestrator.reports import ReportFiles

    ev = config.evaluator
    context = MetricContext(
        judge=ev.judge,
        workspace_dir=ws.root,
        base_dir=config.base_dir,
        cache=ev.cache and cache,
    )
    baseline = resolve_baseline(config, ws, run)
    if ev.baseline is not None and baseline is None:
        bus.emit(Notice("warning", "no earlier run to compare with (evaluator.baseline: latest)"))
    chosen = list(ev.report.formats) if formats is None else list(formats)
    with ReportFiles(run.path, chosen, baseline=_baseline_report(baseline)) as files:
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
            on_row=files.add,
        )
        problems: list[str] = []
        comparison = None
        if baseline is not None:
            from chatbot_tester.evaluator.compare import compare_runs

            # compare reads the candidate's report.json (latency, cost): the gates-only
            # summary is on disk until the final reports replace it below
            atomic_write_bytes(run.file(REPORT_JSON), render_json(evaluation.report))
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
                problems.append(f"cannot compare with baseline run {baseline.run_id}: {exc}")
            if comparison is not None and comparison.exit_code != 0:
                problems.append(
                    f"significant regression against baseline run {baseline.run_id}: "
                    + ", ".join(comparison.regressed_metrics)
                )
        decision = decide(
            evaluation.report, max_error_rate=config.runner.max_error_rate, problems=problems
        )
        report = evaluation.report.with_decision(decision)
        paths = files.finish(report)
    outcome = StageEvaluation(report=report, reports=paths)
    if comparison is not None:
        from chatbot_tester.evaluator.compare import write_comparison

        outcome.comparison = comparison.model_dump(mode="json")
        outcome.reports.update(write_comparison(comparison, run.path))
    return outcome
