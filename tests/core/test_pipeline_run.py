"""``PipelineRun``: each step returns its value; the manifest follows the steps."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.common.events import EventBus, GenerationSkipped
from chatbot_tester.common.types import RunStatus
from chatbot_tester.common.yaml_loader import load_pipeline
from chatbot_tester.orchestrator import PipelineRun


def _config(tmp_path: Path) -> dict[str, object]:
    data = tmp_path / "data.jsonl"
    rows = [{"id": f"s{i}", "input": f"say {i}", "expected": f"say {i}"} for i in range(4)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {
        "name": "steps",
        "workspace": str(tmp_path / "ws"),
        "generator": {"source": str(data)},
        "runner": {"backend": "echo"},
        "evaluator": {"metrics": [{"type": "exact_match"}], "report": {"formats": ["json"]}},
    }


def test_steps_return_values_and_the_dataset_is_reused(tmp_path: Path) -> None:
    config = load_pipeline(_config(tmp_path))
    ws = Workspace(tmp_path / "ws")

    async def first() -> None:
        run = PipelineRun(config, ws, cache=False, bus=EventBus())
        dataset = await run.prepare_dataset()
        assert not dataset.reused and dataset.info.count == 4 and dataset.path.is_file()
        result = await run.execute()
        assert result.exit_code == 0 and result.status == "completed"
        assert result.run is not None and result.run.completed == 4
        assert not result.generation_skipped
        manifest = run.run_dir.read_manifest()
        assert manifest.status is RunStatus.COMPLETED
        assert manifest.stages == {
            "generate": "completed",
            "run": "completed",
            "evaluate": "completed",
        }
        assert manifest.counts["scores"] == 4

    async def second() -> None:
        seen: list[object] = []
        bus = EventBus()
        bus.subscribe(seen.append)
        run = PipelineRun(config, ws, cache=False, bus=bus)
        dataset = await run.prepare_dataset()
        assert dataset.reused
        assert any(isinstance(e, GenerationSkipped) for e in seen)
        result = await run.execute()
        assert result.generation_skipped
        assert run.run_dir.read_manifest().stages["generate"] == "skipped"

    anyio.run(first)
    anyio.run(second)
