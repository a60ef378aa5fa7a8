"""Generate -> run -> evaluate -> report, wired through a workspace run directory.

The orchestrator only wires stages together and owns the workspace: it validates the whole
pipeline before creating anything, then drives a ``PipelineRun`` (dataset reuse, config
snapshot with secrets unresolved, the manifest, the exit code).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.events import EventBus, Subscriber
from chatbot_tester.common.plugins import load_config
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.orchestrator.pipeline_run import PipelineInterrupted, PipelineRun
from chatbot_tester.orchestrator.result import PipelineResult
from chatbot_tester.orchestrator.validate import (
    validate_assertions,
    validate_pipeline,
    validate_workspace_refs,
)

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
) -> PipelineResult:
    """Run a whole pipeline inside the caller's event loop; see ``run_pipeline``."""
    config = load_config(source)
    await validate_pipeline(config)
    ws = Workspace(workspace_dir or config.resolve_path(config.workspace))
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
    src_file = config.resolve_path(config.generator.source) if config.generator.source else None
    validate_assertions(iter_jsonl(dataset.path, TestSample), src_file or dataset.path)
    return await run.execute(resume=resumed_run, force=force)


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
) -> PipelineResult:
    """Run a pipeline (a YAML path, a dict or a ``PipelineConfig``) and return its result.

    The one synchronous entry point and the one place that creates an event loop. Called
    from inside a running loop (a notebook cell), it runs the pipeline's own loop in a worker
    thread and waits for it. ``resume`` continues an interrupted run by id; ``cache=False``
    disables every response cache; each of ``subscribers`` is fed every event.
    """

    def main() -> PipelineResult:
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
            )
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return main()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatbot-tester") as pool:
        return pool.submit(main).result()
