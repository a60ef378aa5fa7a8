"""``chatbot_tester.testing.metric_input`` builds what a metric scores, for metric unit tests."""

from __future__ import annotations

from chatbot_tester.common.types import ErrorKind
from chatbot_tester.evaluator.metrics import MetricContext, metric_registry
from chatbot_tester.testing import metric_input


async def _score(type_: str, item, options=None):  # type: ignore[no-untyped-def]
    metric = metric_registry.create(type_, options or {}, name=type_, context=MetricContext())
    try:
        return await metric.ascore(item)
    finally:
        await metric.aclose()


async def test_a_built_input_scores_like_a_real_record() -> None:
    item = metric_input("Paris", ["Paris", "paris, France"], input="Capital of France?")
    assert item.input_text == "Capital of France?" and item.expected == ["Paris", "paris, France"]
    assert (await _score("exact_match", item)).passed is True
    assert (await _score("exact_match", metric_input("Lyon", "Paris"))).passed is False


async def test_record_fields_and_errors_reach_the_metric() -> None:
    slow = metric_input("ok", latency_ms=250.0)
    assert (await _score("latency", slow, {"max_ms": 100})).passed is False
    failed = metric_input(None, "Paris")
    assert failed.output is None and failed.record.error is not None
    assert failed.record.error.kind is ErrorKind.HTTP
    assert (await _score("exact_match", failed)).error is not None
