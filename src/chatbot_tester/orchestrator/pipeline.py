"""Generate -> run -> evaluate -> report, wired through a workspace run directory.

The orchestrator only wires stages together and owns the workspace: it validates the whole
pipeline before creating anything, reuses an identical dataset, snapshots the config (secrets
unresolved), keeps the manifest current, and turns the outcome into an exit code.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from chatbot_tester.common.artifacts.workspace import (
    CONFIG_SNAPSHOT,
    DATASET,
    EVENTS,
    RESULTS,
    RunDir,
    Workspace,
)
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.events import (
    EventBus,
    GenerationSkipped,
    Notice,
    RunFinished,
    RunStarted,
)
from chatbot_tester.common.hashing import stable_hash
from chatbot_tester.common.plugins import import_config_plugins
from chatbot_tester.common.schemas import DatasetInfo, Manifest, TestSample, utcnow
from chatbot_tester.common.types import RunStatus
from chatbot_tester.common.versions import collect_versions
from chatbot_tester.common.yaml_loader import load_pipeline
from chatbot_tester.errors import ResumeError, RunAborted
from chatbot_tester.orchestrator.result import PipelineResult
from chatbot_tester.orchestrator.stages import evaluate_stage, run_stage
from chatbot_tester.orchestrator.validate import (
    backend_hash,
    validate_assertions,
    validate_pipeline,
    validate_workspace_refs,
)

__all__ = ["PipelineInterrupted", "run_pipeline", "run_pipeline_async"]


class PipelineInterrupted(KeyboardInterrupt):
    """Raised after an interrupted run was marked ``interrupted`` in its manifest."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; resume with --resume {run_dir.name}")
        self.run_dir = run_dir


def _load(source: PipelineConfig | Path | str | dict[str, Any]) -> PipelineConfig:
    config = source if isinstance(source, PipelineConfig) else load_pipeline(source)
    import_config_plugins(config)
    return config


async def _prepare_dataset(
    config: PipelineConfig, ws: Workspace, *, cache_enabled: bool, bus: EventBus
) -> tuple[Path, DatasetInfo, bool]:
    """Build (or reuse) the dataset in ``<workspace>/datasets``; nothing goes in a run dir yet."""
    from chatbot_tester.generator import dataset_fingerprint, dataset_hash, generate_dataset

    gen = config.generator
    fingerprint = dataset_fingerprint(gen, config.base_dir)
    dataset_id = gen.dataset_id or (gen.source.stem if gen.source else "synthetic")
    ws.datasets_dir.mkdir(parents=True, exist_ok=True)
    path = ws.datasets_dir / f"{dataset_id}-{fingerprint.split(':')[-1][:16]}.jsonl"
    if path.exists():
        from chatbot_tester.common.artifacts.jsonl import iter_json_objects

        count = sum(1 for _ in iter_json_objects(path))
        info = DatasetInfo(
            id=dataset_id,
            hash=dataset_hash(path),
            count=count,
            source=str(gen.source) if gen.source else "synthetic",
        )
        bus.emit(GenerationSkipped(dataset_id, f"identical dataset already built: {path.name}"))
        from chatbot_tester.generator.generate import load_synthetic_report

        report = load_synthetic_report(path)
        if report is not None and report.missing:
            bus.emit(
                Notice(
                    "warning",
                    f"the reused synthetic dataset has {report.produced} of {report.requested} "
                    "samples (the rest were invalid); change the generator config to regenerate",
                )
            )
        return path, info, True
    cache = None
    if gen.synthetic is not None and gen.cache and cache_enabled:
        from chatbot_tester.common.artifacts.cache import open_cache

        cache = open_cache(ws.root)
    try:
        info = await generate_dataset(
            gen, base_dir=config.base_dir, out_path=path, cache=cache, bus=bus
        )
    finally:
        if cache is not None:
            cache.close()
    return path, info, False


def _new_manifest(
    config: PipelineConfig, run: RunDir, dataset: DatasetInfo, gen_skipped: bool
) -> Manifest:
    snapshot = config.snapshot()
    return Manifest(
        run_id=run.run_id,
        pipeline=config.name,
        config=snapshot,
        config_hash=stable_hash(snapshot),
        backend_hash=backend_hash(config),
        dataset=dataset,
        versions=collect_versions(),
        base_dir=str(config.base_dir),
        stages={"generate": "skipped" if gen_skipped else "completed"},
    )


def _open_for_resume(
    config: PipelineConfig, run: RunDir, dataset: DatasetInfo, force: bool
) -> Manifest:
    """The manifest of ``run`` made ready to continue; refuses a changed dataset or backend.

    With ``force`` the run continues on its own stored dataset; a changed config is recorded
    as ``pipeline.resume-<n>.yaml`` beside the original snapshot (nothing is overwritten) and
    becomes the manifest's current config.
    """
    manifest = run.read_manifest()
    problems = []
    if manifest.dataset is not None and manifest.dataset.hash != dataset.hash:
        problems.append("the dataset changed")
    new_backend = backend_hash(config)
    if manifest.backend_hash is not None and manifest.backend_hash != new_backend:
        problems.append("the runner's backend config changed")
    if problems and not force:
        raise ResumeError(
            f"cannot resume run {run.run_id}: {' and '.join(problems)} since it started "
            "(start a new run, or pass --force to continue with the run's own dataset)"
        )
    manifest.resumed += 1
    snapshot = config.snapshot()
    if problems or stable_hash(snapshot) != manifest.config_hash:
        run.write_new(f"pipeline.resume-{manifest.resumed}.yaml", _snapshot_text(config))
        manifest.config = snapshot
        manifest.config_hash = stable_hash(snapshot)
        manifest.backend_hash = new_backend
    manifest.status = RunStatus.RUNNING
    manifest.error = None
    return manifest


async def run_pipeline_async(
    source: PipelineConfig | Path | str | dict[str, Any],
    *,
    workspace_dir: Path | None = None,
    resume: str | None = None,
    force: bool = False,
    cache: bool = True,
    progress: bool = True,
    bus: EventBus | None = None,
) -> PipelineResult:
    """Run a whole pipeline; see ``run_pipeline``."""
    config = _load(source)
    await validate_pipeline(config)
    ws = Workspace(workspace_dir or config.resolve_path(config.workspace))
    validate_workspace_refs(config, ws)
    resumed_run = ws.open_run(resume) if resume is not None else None
    bus = bus or EventBus()
    if progress:
        from chatbot_tester.orchestrator.progress import ProgressDisplay

        bus.subscribe(ProgressDisplay())

    started = time.perf_counter()
    dataset_src, dataset, gen_skipped = await _prepare_dataset(
        config, ws, cache_enabled=cache, bus=bus
    )
    gen_seconds = time.perf_counter() - started
    from chatbot_tester.common.artifacts.jsonl import iter_jsonl

    src_file = config.resolve_path(config.generator.source) if config.generator.source else None
    validate_assertions(iter_jsonl(dataset_src, TestSample), src_file or dataset_src)

    if resumed_run is not None:
        run = resumed_run
        with run.lock():
            manifest = _open_for_resume(config, run, dataset, force)
            return await _execute(config, ws, run, manifest, dataset, gen_skipped, cache, bus)
    run = ws.create_run()
    with run.lock():
        shutil.copyfile(dataset_src, run.file(DATASET))  # the run's own, immutable copy
        run.file(CONFIG_SNAPSHOT).write_text(_snapshot_text(config), encoding="utf-8")
        manifest = _new_manifest(config, run, dataset, gen_skipped)
        manifest.timings["generate"] = round(gen_seconds, 3)
        return await _execute(config, ws, run, manifest, dataset, gen_skipped, cache, bus)


def _snapshot_text(config: PipelineConfig) -> str:
    return yaml.safe_dump(config.snapshot(), sort_keys=False, allow_unicode=True)


async def _execute(
    config: PipelineConfig,
    ws: Workspace,
    run: RunDir,
    manifest: Manifest,
    dataset: DatasetInfo,
    gen_skipped: bool,
    cache: bool,
    bus: EventBus,
) -> PipelineResult:
    """Run, evaluate and report inside a locked run directory, keeping the manifest current."""
    run.write_manifest(manifest)
    from chatbot_tester.orchestrator.progress import EventLogWriter

    log = EventLogWriter(run.file(EVENTS))
    bus.subscribe(log)
    bus.emit(RunStarted(run.run_id, config.name))
    result = PipelineResult(
        run_id=run.run_id,
        run_dir=run.path,
        status="running",
        exit_code=0,
        dataset=dataset,
        generation_skipped=gen_skipped,
    )
    try:
        await _run_and_evaluate(config, ws, run, manifest, result, cache=cache, bus=bus)
    except (KeyboardInterrupt, asyncio.CancelledError):
        manifest.status = RunStatus.INTERRUPTED
        manifest.updated_at = utcnow()
        run.write_manifest(manifest)
        bus.emit(RunFinished(run.run_id, "interrupted"))
        raise PipelineInterrupted(run.path) from None
    except RunAborted as exc:
        manifest.status = RunStatus.ABORTED
        manifest.error = str(exc)
        run.write_manifest(manifest)
        bus.emit(RunFinished(run.run_id, "aborted"))
        raise
    except BaseException as exc:
        manifest.status = RunStatus.FAILED
        manifest.error = f"{type(exc).__name__}: {exc}"
        run.write_manifest(manifest)
        raise
    finally:
        await bus.aclose()
        log.close()
    return result


async def _run_and_evaluate(
    config: PipelineConfig,
    ws: Workspace,
    run: RunDir,
    manifest: Manifest,
    result: PipelineResult,
    *,
    cache: bool,
    bus: EventBus,
) -> None:
    t0 = time.perf_counter()
    summary = (
        await run_stage(
            config,
            ws,
            run.file(DATASET),
            run.file(RESULTS),
            resume=manifest.resumed > 0,
            cache=cache,
            bus=bus,
        )
    ).model_dump(mode="json")
    manifest.timings["run"] = round(time.perf_counter() - t0, 3)
    result.run = summary
    manifest.counts.update(
        samples=manifest.dataset.count if manifest.dataset else 0,
        records=int(summary.get("completed", 0)) + int(summary.get("skipped_existing", 0)),
        errors=int(summary.get("errors", 0)),
    )
    status = str(summary.get("status", "completed"))
    if status == "interrupted":
        raise KeyboardInterrupt
    if status == "aborted":
        raise RunAborted(str(summary.get("message") or "the run was aborted"))
    manifest.stages["run"] = status
    run.write_manifest(manifest)
    if status == "budget_exhausted":
        result.status = status
        result.exit_code = 1
        result.problems.append(
            f"{summary.get('message') or 'budget exhausted'}; "
            f"resume with --resume {run.run_id} after raising runner.max_cost_usd"
        )
        manifest.status = RunStatus.INTERRUPTED
        manifest.error = result.problems[-1]
        run.write_manifest(manifest)
        return

    t1 = time.perf_counter()
    result.apply(await evaluate_stage(config, ws, run, cache=cache, bus=bus))
    manifest.timings["evaluate"] = round(time.perf_counter() - t1, 3)
    manifest.stages["evaluate"] = "completed"
    if result.report is not None:
        manifest.counts["scores"] = sum(m.scored for m in result.report.metrics.values())
    result.status = "completed"
    manifest.status = RunStatus.COMPLETED
    manifest.updated_at = utcnow()
    run.write_manifest(manifest)
    bus.emit(RunFinished(run.run_id, "completed"))


def run_pipeline(
    source: PipelineConfig | Path | str | dict[str, Any],
    *,
    workspace_dir: Path | None = None,
    resume: str | None = None,
    force: bool = False,
    cache: bool = True,
    progress: bool = False,
) -> PipelineResult:
    """Run a pipeline (a YAML path, a dict or a ``PipelineConfig``) and return its result.

    The one synchronous entry point: it creates the event loop. ``resume`` continues an
    interrupted run by id; ``cache=False`` disables every response cache.
    """
    return asyncio.run(
        run_pipeline_async(
            source,
            workspace_dir=workspace_dir,
            resume=resume,
            force=force,
            cache=cache,
            progress=progress,
        )
    )
