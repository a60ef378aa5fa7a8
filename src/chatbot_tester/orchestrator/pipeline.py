"""Generate -> run -> evaluate -> report, wired through a workspace run directory.

The orchestrator only wires stages together and owns the workspace: it validates the whole
pipeline before creating anything, then drives a ``PipelineRun`` (dataset reuse, config
snapshot with secrets unresolved, the manifest, the exit code).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.common.artifacts.remote_workspace import config_workspace
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.events import EventBus, Subscriber
from chatbot_tester.common.plugins import load_config
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import UsageError
from chatbot_tester.orchestrator.blocking import run_blocking
from chatbot_tester.orchestrator.pipeline_run import PipelineInterrupted, PipelineRun
from chatbot_tester.orchestrator.result import PipelineResult
from chatbot_tester.orchestrator.selection import SampleSelection, select_dataset
from chatbot_tester.orchestrator.subscribers import load_subscribers
from chatbot_tester.orchestrator.validate import (
    validate_assertions,
    validate_pipeline,
    validate_workspace_refs,
)

if TYPE_CHECKING:
    from chatbot_tester.orchestrator.variants import VariantsResult

__all__ = ["PipelineInterrupted", "run_pipeline", "run_pipeline_async"]


async def run_pipeline_async(
    source: PipelineConfig | Path | str | dict[str, Any],
    *,
    workspace_dir: Path | None = None,
    resume: str | None = None,
    force: bool = False,
    cache: bool = True,
    progress: bool = False,
    bus: EventBus | None = None,
    subscribers: Sequence[Subscriber] = (),
    selection: SampleSelection | None = None,
) -> PipelineResult | VariantsResult:
    """Run a whole pipeline inside the caller's event loop; see ``run_pipeline``."""
    config = load_config(source)
    where = f"{config.source_file}: subscribers" if config.source_file else "subscribers"
    subscribers = [
        *subscribers,
        *load_subscribers(config.subscribers, config.base_dir, where=where),
    ]
    if config.variants and selection is not None and not selection.empty:
        raise UsageError(
            "sample selection (--limit, --sample, --tags, ...) needs a pipeline without variants"
        )
    if config.variants:
        return await _run_variants(
            config,
            workspace_dir,
            resume=resume,
            cache=cache,
            progress=progress,
            bus=bus,
            subscribers=subscribers,
        )
    await validate_pipeline(config)
    ws = config_workspace(config, workspace_dir)
    validate_workspace_refs(config, ws)
    resumed_run = ws.open_run(resume) if resume is not None else None
    bus = bus or EventBus()
    for subscriber in subscribers:
        bus.subscribe(subscriber)
    if progress:
        from chatbot_tester.orchestrator.progress import ProgressDisplay

        bus.subscribe(ProgressDisplay())
    run = PipelineRun(config, ws, cache=cache, bus=bus)
    dataset = await run.prepare_dataset()
    if selection is not None and not selection.empty:
        run.dataset, run.selection = select_dataset(dataset, selection, ws)
    _check_assertions(config, run)
    return await run.execute(resume=resumed_run, force=force)


def _check_assertions(config: PipelineConfig, run: PipelineRun) -> None:
    """The dataset's assertions are valid (checked before anything is sent)."""
    assert run.dataset is not None
    if not _may_hold_assertions(run.dataset.path):
        return
    src_file = config.resolve_path(config.generator.source) if config.generator.source else None
    validate_assertions(iter_jsonl(run.dataset.path, TestSample), src_file or run.dataset.path)


def _may_hold_assertions(path: Path) -> bool:
    r"""False when no line of ``path`` can hold an ``assertions`` key.

    A byte scan instead of validating every sample; a ``\u`` escape anywhere (it could spell
    the key) counts as maybe.
    """
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            window = tail + chunk
            if b'"assertions"' in window or b"\\u" in window:
                return True
            tail = chunk[-16:]
    return False


async def _run_variants(
    config: PipelineConfig,
    workspace_dir: Path | None,
    *,
    resume: str | None,
    cache: bool,
    progress: bool,
    bus: EventBus | None,
    subscribers: Sequence[Subscriber],
) -> VariantsResult:
    """Validate every variant, then run them all and compare them (``orchestrator.variants``)."""
    from chatbot_tester.orchestrator.variants import run_variants

    if resume is not None:
        raise UsageError(
            "--resume continues one run: resume a variant's run with the pipeline.yaml in its "
            "run directory, or re-run the whole pipeline"
        )
    if bus is not None:
        raise UsageError(
            "a pipeline with variants makes one event bus per variant: pass subscribers"
        )
    for variant in config.variants:
        await validate_pipeline(config.with_variant(variant))
    ws = config_workspace(config, workspace_dir)
    validate_workspace_refs(config, ws)

    def new_bus() -> EventBus:
        fresh = EventBus()
        if progress:
            from chatbot_tester.orchestrator.progress import ProgressDisplay

            fresh.subscribe(ProgressDisplay())
        return fresh

    return await run_variants(
        config,
        ws,
        cache=cache,
        new_bus=new_bus,
        subscribers=subscribers,
        prepare=lambda run: _check_assertions(config, run),
    )


def run_pipeline(
    source: PipelineConfig | Path | str | dict[str, Any],
    *,
    workspace_dir: Path | None = None,
    resume: str | None = None,
    force: bool = False,
    cache: bool = True,
    progress: bool = False,
    bus: EventBus | None = None,
    subscribers: Sequence[Subscriber] = (),
    selection: SampleSelection | None = None,
) -> PipelineResult | VariantsResult:
    """Run a pipeline (a YAML path, a dict or a ``PipelineConfig``) and return its result.

    The one synchronous entry point and the one place that creates an event loop. Called
    from inside a running loop (a notebook cell), it runs the pipeline's own loop in a worker
    thread and waits for it. ``resume`` continues an interrupted run by id; ``cache=False``
    disables every response cache; each of ``subscribers`` is fed every event; ``selection``
    sends a subset of the dataset (``orchestrator.selection``). A pipeline
    with ``variants`` returns a ``VariantsResult`` (one run per variant and their comparison).
    """

    def main() -> PipelineResult | VariantsResult:
        return asyncio.run(
            run_pipeline_async(
                source,
                workspace_dir=workspace_dir,
                resume=resume,
                force=force,
                cache=cache,
                progress=progress,
                bus=bus,
                subscribers=subscribers,
                selection=selection,
            )
        )

    return run_blocking(main)
