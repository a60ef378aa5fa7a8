"""The run and evaluate stages as the orchestrator (and ``chatbot-tester evaluate``) drive them.

Each function builds what its stage needs from the pipeline config (backend, cache, metric
context), calls the stage's public API, and cleans up. The stages themselves never import
each other; they meet here and in ``common``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.artifacts.workspace import (
    DATASET,
    REPORT_JSON,
    RESULTS,
    SCORES,
    RunDir,
    Workspace,
)
from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.config import EvaluatorConfig, PipelineConfig
from chatbot_tester.common.events import EventBus, Notice
from chatbot_tester.errors import ConfigError, ResumeError
from chatbot_tester.orchestrator.result import StageEvaluation

if TYPE_CHECKING:
    from chatbot_tester.common.schemas import RunRecord, TestSample
    from chatbot_tester.evaluator.evaluate import Evaluation, EvaluationSession
    from chatbot_tester.evaluator.report_model import EvalReport
    from chatbot_tester.orchestrator.reports import ReportFiles
    from chatbot_tester.runner import RunSummary
    from chatbot_tester.runner.run import RecordSink

__all__ = [
    "EvaluateJob",
    "StageEvaluator",
    "evaluate_job",
    "evaluate_job_for",
    "evaluate_stage",
    "resolve_baseline",
    "run_stage",
]


async def run_stage(
    config: PipelineConfig,
    ws: Workspace,
    dataset_path: Path,
    results_path: Path,
    *,
    resume: bool,
    cache: bool,
    bus: EventBus,
    on_record: RecordSink | None = None,
) -> RunSummary:
    """Send the dataset to the chatbot under test (the ``run`` and ``execute`` commands).

    ``on_record`` sees every record as it is written (the pipeline's overlapping evaluation).
    """
    from chatbot_tester.runner import run_job

    runner = config.runner
    if runner.executor == "ray":
        from chatbot_tester.common.artifacts.cache import CACHE_FILE
        from chatbot_tester.runner.ray_executor import run_on_ray

        return await run_on_ray(
            dataset_path,
            runner,
            results_path,
            base_dir=config.base_dir,
            bus=bus,
            resume=resume,
            cache_path=ws.root / "cache" / CACHE_FILE if runner.cache and cache else None,
        )
    backend = backend_registry.create(
        runner.backend, base_dir=config.base_dir, **runner.resolved_options()
    )
    if runner.stream and not backend.streams():
        bus.emit(
            Notice(
                "warning",
                f"runner.stream is on but backend '{runner.backend}' cannot stream with these "
                "options; time to first token will not be measured",
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
            on_record=on_record,
        )
    finally:
        await backend.aclose()
        if response_cache is not None:
            response_cache.close()
    return summary


def resolve_baseline(config: PipelineConfig, ws: Workspace, current: RunDir) -> RunDir | None:
    """The run named by ``evaluator.baseline`` (``None`` when ``latest`` finds nothing).

    An id or path; ``latest``, the previous evaluated run; a tag, the newest run carrying it;
    ``latest:<tag>``, the previous evaluated run carrying the tag.
    """
    from chatbot_tester.common.artifacts.run_index import open_index

    ref = config.evaluator.baseline
    if ref is None:
        return None
    if ref == "latest" or ref.startswith("latest:"):
        tag = ref.partition(":")[2] or None
        with open_index(ws) as index:
            found = index.latest(before=current.run_id, tag=tag)
        return None if found is None else ws.open_run(found.run_id)
    path = Path(ref)
    if not path.is_absolute() and (config.base_dir / path).exists():
        ref = str((config.base_dir / path).resolve())
    try:
        return ws.open_run(ref)
    except ResumeError:
        with open_index(ws) as index:
            tagged = index.latest(before=current.run_id, tag=ref)
        if tagged is None:
            raise
        return ws.open_run(tagged.run_id)


def _baseline_report(baseline: RunDir | None) -> EvalReport | None:
    """The baseline run's report.json as a model, when it has a readable one."""
    from chatbot_tester.evaluator.report_model import EvalReport

    if baseline is None:
        return None
    try:
        return EvalReport.model_validate_json(baseline.file(REPORT_JSON).read_bytes())
    except (OSError, ValueError):
        return None


class EvaluateJob(BaseModel):
    """What one evaluation needs: inputs, output folder, metrics, decision rule, baseline.

    The pipeline (``evaluate_stage``) and ``chatbot-tester evaluate`` both describe their
    evaluation with this and hand it to ``evaluate_job``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Path
    """dataset.jsonl to score against."""
    results: Path
    """results.jsonl to score."""
    out_dir: Path
    """Where scores.jsonl and the reports go (the run directory, or another folder)."""
    evaluator: EvaluatorConfig
    """Metrics, gates, judge and report settings (after any ``--metric`` selection)."""
    max_error_rate: float | None = 0.0
    """``runner.max_error_rate``; ``None`` decides on the gates alone."""
    workspace_dir: Path | None = None
    """Workspace root for the judge cache (``None``: no on-disk cache)."""
    base_dir: Path
    """Directory that relative paths in metric options refer to."""
    pipeline_name: str = ""
    """The pipeline's name, for the reports."""
    run_id: str = ""
    """The evaluated run's id (empty outside a workspace)."""
    resume: bool = True
    """Reuse valid scores already in ``out_dir/scores.jsonl``."""
    cache: bool = True
    """Whether judge verdicts may be cached (``evaluator.cache`` must allow it too)."""
    baseline: Path | None = None
    """An evaluated run directory to compare with (a regression fails the run)."""
    formats: tuple[str, ...] | None = None
    """Report formats; ``None`` takes ``evaluator.report.formats``."""
    step_summary: bool = True
    """Append report.md to ``$GITHUB_STEP_SUMMARY`` when that is set."""
    repeats: bool = False
    """The run has ``repeat: k`` with k > 1 (known before its results are written)."""
    validated: bool = False
    """The samples and assertions were validated already (by the pipeline, before the run)."""
    plugins: tuple[str, ...] = ()
    """The pipeline's ``plugins:`` (relative to ``base_dir``), imported by Ray workers too."""


def evaluate_job_for(
    config: PipelineConfig,
    ws: Workspace,
    run: RunDir,
    *,
    cache: bool,
    bus: EventBus,
    formats: Sequence[str] | None = None,
) -> EvaluateJob:
    """The evaluation of ``run`` of the pipeline in place, against ``evaluator.baseline``."""
    baseline = resolve_baseline(config, ws, run)
    if config.evaluator.baseline is not None and baseline is None:
        bus.emit(Notice("warning", "no earlier run to compare with (evaluator.baseline: latest)"))
    return EvaluateJob(
        dataset=run.file(DATASET),
        results=run.file(RESULTS),
        out_dir=run.path,
        evaluator=config.evaluator.with_ray_from(config.runner),
        max_error_rate=config.runner.max_error_rate,
        workspace_dir=ws.root,
        base_dir=config.base_dir,
        pipeline_name=config.name,
        run_id=run.run_id,
        cache=cache,
        baseline=None if baseline is None else baseline.path,
        formats=None if formats is None else tuple(formats),
        repeats=config.runner.repeat > 1,
        validated=True,
        plugins=tuple(config.plugins),
    )


async def evaluate_stage(
    config: PipelineConfig,
    ws: Workspace,
    run: RunDir,
    *,
    cache: bool,
    bus: EventBus,
    formats: Sequence[str] | None = None,
) -> StageEvaluation:
    """Evaluate ``run`` of the pipeline in place, against ``evaluator.baseline`` if set."""
    job = evaluate_job_for(config, ws, run, cache=cache, bus=bus, formats=formats)
    return await evaluate_job(job, bus=bus)


async def evaluate_job(job: EvaluateJob, *, bus: EventBus | None = None) -> StageEvaluation:
    """Score, check gates, compare with the baseline, decide, and write the reports."""
    stage = StageEvaluator(job, bus=bus)
    await stage.open()
    return await stage.finish()


class StageEvaluator:
    """One evaluation with its report files, opened before the run so that it can overlap it.

    ``feed`` (the runner's ``on_record``) scores each record as it is written; ``finish``
    scores the rest, checks gates, compares with the baseline, decides and completes the
    reports: the evaluator's rows go straight to the reporters, and the report files are
    completed once the decision (gates, errors beyond ``max_error_rate``, unscored samples,
    a baseline regression) is known, so every report and the exit code agree. ``aclose``
    discards an unfinished evaluation (no report file is half-written; scores computed so
    far stay in ``scores.jsonl`` for a resume).
    """

    def __init__(self, job: EvaluateJob, *, bus: EventBus | None = None) -> None:
        self.job = job
        self.bus = bus
        self._files: ReportFiles | None = None
        self._session: EvaluationSession | None = None

    async def open(self) -> StageEvaluator:
        """Open the report files and the evaluation session (dataset validated, ledger read)."""
        from chatbot_tester.evaluator.evaluate import EvaluationSession
        from chatbot_tester.evaluator.metrics import MetricContext
        from chatbot_tester.orchestrator.reports import ReportFiles

        job = self.job
        ev = job.evaluator
        context = MetricContext(
            judge=ev.judge,
            workspace_dir=job.workspace_dir,
            base_dir=job.base_dir,
            cache=ev.cache and job.cache,
        )
        baseline = None if job.baseline is None else RunDir(job.baseline)
        chosen = list(ev.report.formats) if job.formats is None else list(job.formats)
        files = ReportFiles(
            job.out_dir, chosen, baseline=_baseline_report(baseline), step_summary=job.step_summary
        )
        files.__enter__()
        self._files = files
        session = EvaluationSession(
            job.dataset,
            job.results,
            ev,
            job.out_dir,
            context=context,
            bus=self.bus,
            resume=job.resume,
            pipeline_name=job.pipeline_name,
            run_id=job.run_id,
            on_row=files.add,
            repeats=job.repeats,
            validated=job.validated,
            plugins=job.plugins,
        )
        self._session = session
        try:
            session.open()
        except BaseException:
            await self.aclose()
            raise
        return self

    def feed(self, sample: TestSample, record: RunRecord) -> None:
        """Score ``record`` as it lands (see ``EvaluationSession.feed``)."""
        assert self._session is not None
        self._session.feed(sample, record)

    async def finish(self) -> StageEvaluation:
        """The evaluation's outcome, with the reports in place."""
        assert self._session is not None and self._files is not None
        try:
            evaluation = await self._session.finish()
            outcome = self._decide(evaluation, self._files)
        except BaseException:
            await self.aclose()
            raise
        self._files = None
        return outcome

    def _decide(self, evaluation: Evaluation, files: ReportFiles) -> StageEvaluation:
        from chatbot_tester.evaluator.decision import decide
        from chatbot_tester.evaluator.reports.json_report import render_json

        job = self.job
        ev, out = job.evaluator, job.out_dir
        baseline = None if job.baseline is None else RunDir(job.baseline)
        problems: list[str] = []
        comparison = None
        if baseline is not None:
            from chatbot_tester.evaluator.compare import compare_runs

            # compare reads the candidate's report.json (latency, cost): the gates-only
            # summary is on disk until the final reports replace it below
            atomic_write_bytes(out / REPORT_JSON, render_json(evaluation.report))
            try:
                comparison = compare_runs(
                    baseline.path,
                    out,
                    alpha=ev.compare.alpha,
                    correction=ev.compare.correction,
                    min_effect=ev.compare.min_effect,
                    statistic=ev.compare.statistic,
                    allow_partial=True,  # this run is being evaluated now; it is not a crash
                )
            except ConfigError as exc:  # e.g. no shared sample ids: the run itself is fine
                problems.append(f"cannot compare with baseline run {baseline.run_id}: {exc}")
            if comparison is not None and comparison.exit_code != 0:
                problems.append(
                    f"significant regression against baseline run {baseline.run_id}: "
                    + ", ".join(comparison.regressed_metrics)
                )
        decision = decide(evaluation.report, max_error_rate=job.max_error_rate, problems=problems)
        report = evaluation.report.with_decision(decision)
        paths = files.finish(report)
        files.__exit__(None, None, None)
        if ev.report.columnar or job.results.suffix == ".parquet":
            # an archived run (Parquet results only) keeps its Parquet scores current too
            paths.update(_write_columnar(job.results, out))
        outcome = StageEvaluation(report=report, reports=paths)
        if comparison is not None:
            from chatbot_tester.evaluator.compare import write_comparison

            outcome.comparison = comparison.model_dump(mode="json")
            outcome.reports.update(write_comparison(comparison, out, step_summary=job.step_summary))
        return outcome

    async def aclose(self) -> None:
        """Discard an unfinished evaluation (idempotent)."""
        files, self._files = self._files, None
        try:
            if files is not None:
                err = RuntimeError("evaluation not finished")
                files.__exit__(RuntimeError, err, None)
        finally:
            if self._session is not None:
                await self._session.aclose()


def _write_columnar(results: Path, out: Path) -> dict[str, Path]:
    """``results.parquet`` and ``scores.parquet`` mirroring the JSONL (``report.columnar``).

    ``results`` may be a Parquet file already (it is then copied, or left as it is).
    """
    from chatbot_tester.common.artifacts.columnar import check_pyarrow, write_columnar
    from chatbot_tester.common.schemas import RunRecord, Score

    check_pyarrow()
    written = {"results.parquet": out / "results.parquet"}
    write_columnar(results, written["results.parquet"], RunRecord)
    if (out / SCORES).is_file():
        written["scores.parquet"] = out / "scores.parquet"
        write_columnar(out / SCORES, written["scores.parquet"], Score)
    return written
