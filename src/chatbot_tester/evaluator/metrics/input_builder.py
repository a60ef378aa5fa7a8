"""``metric_input(...)``: build what a metric scores, for metric unit tests.

Exported from ``chatbot_tester.testing`` as well (by name, so ``testing`` imports no stage).
"""

from __future__ import annotations

from typing import Any

from chatbot_tester.common.schemas import ChatResponse, ErrorInfo, Message, RunRecord, TestSample
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.evaluator.metrics.base import MetricInput

__all__ = ["metric_input"]


def metric_input(
    output: str | None = "",
    expected: str | list[str] | None = None,
    *,
    input: str = "question",
    sample_id: str = "s1",
    error: bool = False,
    **record_fields: Any,
) -> MetricInput:
    """A ``MetricInput`` for one single-turn answer; ``record_fields`` go to the ``RunRecord``.

    ``output=None`` (or ``error=True``) makes the record an error, as a failed call would.
    """
    sample = TestSample(id=sample_id, input=input, expected=expected)
    failed = error or output is None
    fields: dict[str, Any] = {"sample_id": sample_id, "backend": "test", **record_fields}
    if failed:
        fields["error"] = ErrorInfo(kind=ErrorKind.HTTP, message="failed")
    else:
        fields["response"] = ChatResponse(text=output or "")
    record = RunRecord(**fields)
    conversation = [Message(role="user", content=input)]
    if not failed:
        conversation.append(Message(role="assistant", content=output or ""))
    return MetricInput(
        sample=sample,
        record=record,
        output=None if failed else output,
        expected=sample.expected_list(),
        conversation=conversation,
    )
