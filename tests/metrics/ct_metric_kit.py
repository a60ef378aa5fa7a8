"""Helpers for the metric tests: build MetricInputs and run metrics through the registry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chatbot_tester.common.schemas import (
    ChatResponse,
    ErrorInfo,
    RunRecord,
    Score,
    TestSample,
    ToolCall,
    TurnRecord,
)
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.evaluator.metrics import MetricContext, MetricInput, metric_registry


def make_item(
    output: str | None = "answer",
    expected: str | list[str] | None = None,
    *,
    sample_id: str = "s1",
    metadata: dict[str, Any] | None = None,
    tool_calls: list[ToolCall] | None = None,
    error: ErrorKind | None = None,
    turn: int | None = None,
    turns: list[TurnRecord] | None = None,
    sample: TestSample | None = None,
    **record: Any,
) -> MetricInput:
    """A MetricInput for one single-turn record (or an error record when ``error`` is set)."""
    if sample is None:
        sample = TestSample(
            id=sample_id, input="question?", expected=expected, metadata=metadata or {}
        )
    if error is not None:
        rec = RunRecord(
            sample_id=sample.id,
            backend="test",
            error=ErrorInfo(kind=error, message="boom"),
            turns=turns,
            **record,
        )
        out = None
    else:
        response = ChatResponse(text=output or "", tool_calls=tool_calls or [])
        rec = RunRecord(
            sample_id=sample.id, backend="test", response=response, turns=turns, **record
        )
        out = output
    if turn is not None and turns is not None:
        t = turns[turn]
        out = t.response.text if t.response is not None else None
    exp = sample.expected_list() if expected is None or isinstance(expected, (str, list)) else []
    return MetricInput(sample=sample, record=rec, output=out, expected=exp, turn=turn)


def create(
    type_: str, options: dict[str, Any] | None = None, *, base_dir: Path | None = None, **ctx: Any
):  # type: ignore[no-untyped-def]
    context = MetricContext(base_dir=base_dir or Path.cwd(), **ctx)
    return metric_registry.create(type_, options or {}, name=None, context=context)


def run(type_: str, item: MetricInput, options: dict[str, Any] | None = None, **kw: Any) -> Score:
    """Create metric ``type_`` and score ``item`` (sync wrapper)."""
    metric = create(type_, options, **kw)

    async def go() -> Score:
        try:
            return await metric.ascore(item)
        finally:
            await metric.aclose()

    return asyncio.run(go())


def value(
    type_: str, output: str | None, expected: str | list[str] | None = None, **options: Any
) -> float | None:
    """The value of metric ``type_`` on one answer."""
    s = run(type_, make_item(output, expected), options)
    assert s.error is None, s.error
    return s.value
