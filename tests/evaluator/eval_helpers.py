"""Helpers for the evaluation tests: files, a counting metric, an async metric."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import anyio
import orjson
from pydantic import Field

from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.common.events import EventBus
from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator import Evaluation, evaluate_run
from chatbot_tester.evaluator.metrics import (
    Metric,
    MetricContext,
    MetricInput,
    MetricOptions,
    metric_registry,
)
from chatbot_tester.orchestrator.result import StageEvaluation
from chatbot_tester.orchestrator.stages import EvaluateJob, evaluate_job

CALLS: Counter[str] = Counter()
"""metric label -> score() calls (tests use unique labels)."""
CLOSED: Counter[str] = Counter()
"""metric label -> aclose() calls."""


class CountingOptions(MetricOptions):
    fail_first: int = Field(default=0)
    """Return an error Score for this many calls first (a flaky judge)."""
    variant: int = Field(default=0)
    """An option with no effect on the verdict (tests change it to change the config)."""


class CountingMetric(Metric):
    """Passes when the answer equals the first expected text; counts its calls."""

    Options = CountingOptions

    def score(self, item: MetricInput) -> Score:
        CALLS[self.name] += 1
        assert isinstance(self.options, CountingOptions)
        if CALLS[self.name] <= self.options.fail_first:
            return self.make(item, error="judge unavailable")
        if item.output is None:
            return self.make(
                item,
                error=f"no answer: {item.record.error.kind.value if item.record.error else '?'}",
            )
        ok = bool(item.expected) and item.output == item.expected[0]
        return self.make(
            item,
            float(ok),
            ok,
            reason="same" if ok else "different",
            details={"expected": item.expected, "turn": item.turn},
        )

    async def aclose(self) -> None:
        CLOSED[self.name] += 1


class SlowAsyncMetric(Metric):
    """An async metric that sleeps a little, recording how many calls overlap."""

    in_flight: ClassVar[int] = 0
    peak: ClassVar[int] = 0

    async def score(self, item: MetricInput) -> Score:
        cls = type(self)
        cls.in_flight += 1
        cls.peak = max(cls.peak, cls.in_flight)
        await anyio.sleep(0.01)
        cls.in_flight -= 1
        return self.make(item, 1.0, True)


for _name, _cls in (("h8_count", CountingMetric), ("h8_slow", SlowAsyncMetric)):
    if _name not in metric_registry:
        metric_registry.register(_name, _cls)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def rec(sample_id: str, text: str | None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sample_id": sample_id, "backend": "scripted"}
    if text is None:
        base["error"] = {"kind": "timeout", "message": "no answer in 1s"}
    else:
        base["response"] = {"text": text}
    base.update(extra)
    return base


async def run_eval(
    tmp: Path,
    samples: list[dict[str, Any]] | None,
    records: list[dict[str, Any]] | None,
    config: dict[str, Any],
    *,
    resume: bool = True,
    bus: EventBus | None = None,
    concurrency: int = 32,
) -> Evaluation:
    if samples is not None:
        write_jsonl(tmp / "dataset.jsonl", samples)
    if records is not None:
        write_jsonl(tmp / "results.jsonl", records)
    return await evaluate_run(
        tmp / "dataset.jsonl",
        tmp / "results.jsonl",
        EvaluatorConfig.model_validate(config),
        tmp / "out",
        context=MetricContext(),
        bus=bus,
        resume=resume,
        pipeline_name="p",
        run_id="r",
        concurrency=concurrency,
    )


async def evaluate_files(
    tmp: Path, config: dict[str, Any], formats: tuple[str, ...]
) -> StageEvaluation:
    """Evaluate ``tmp``'s dataset and results into ``tmp/out`` through the pipeline's stage
    function (resuming the scores there), writing ``formats``; the decision reads the gates."""
    job = EvaluateJob(
        dataset=tmp / "dataset.jsonl",
        results=tmp / "results.jsonl",
        out_dir=tmp / "out",
        evaluator=EvaluatorConfig.model_validate(config),
        max_error_rate=None,
        base_dir=tmp,
        pipeline_name="p",
        run_id="r",
        formats=formats,
        step_summary=False,
    )
    return await evaluate_job(job)


def scores_by_key(tmp: Path) -> dict[tuple[str, int, int | None, str], dict[str, Any]]:
    return {
        (s["sample_id"], s["repeat"], s["turn"], s["metric"]): s
        for s in read_jsonl(tmp / "out" / "scores.jsonl")
    }
