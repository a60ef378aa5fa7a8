"""Custom function metrics (sync/async, all return shapes), the python metric and plugins."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ct_metric_kit import create, make_item, run

from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics import (
    MetricContext,
    MetricInput,
    metric_registry,
    register_metric,
)
from chatbot_tester.evaluator.metrics.custom import call_style, function_metric_class


def polite(sample: TestSample, record: RunRecord) -> bool:
    """Answer says please."""
    assert record.response is not None
    return "please" in record.response.text.lower()


async def async_len(sample: TestSample, record: RunRecord, scale: float = 1.0) -> float:
    await asyncio.sleep(0)
    assert record.response is not None
    return len(record.response.text) * scale


def by_item(item: MetricInput) -> dict[str, Any]:
    return {"value": 0.25, "reason": f"turn={item.turn} expected={item.expected}"}


def returns_score(item: MetricInput) -> Score:
    return Score(sample_id="ignored", metric="ignored", value=0.9, passed=True, reason="ok")


def returns_junk(sample: TestSample, record: RunRecord) -> Any:
    return {"score": 1}


def returns_none(sample: TestSample, record: RunRecord) -> None:
    return None


def raises(sample: TestSample, record: RunRecord) -> float:
    raise RuntimeError("metric bug")


def _score(func: Any, item: MetricInput, **options: Any) -> Score:
    cls = function_metric_class("custom", func)
    metric = cls(cls.Options.model_validate(options), name="custom", context=MetricContext())
    return asyncio.run(metric.ascore(item))


def test_call_styles() -> None:
    assert call_style(polite) == "pair"
    assert call_style(by_item) == "item"
    assert call_style(lambda item: 1.0) == "item"
    assert call_style(lambda s, r: 1.0) == "pair"


def test_sync_bool_and_description() -> None:
    s = _score(polite, make_item("Please wait"))
    assert (s.value, s.passed, s.metric) == (1.0, True, "custom")
    assert _score(polite, make_item("wait")).passed is False
    assert function_metric_class("p", polite).description == "Answer says please."


def test_async_float_with_kwargs_and_threshold() -> None:
    s = _score(async_len, make_item("abcd"), kwargs={"scale": 0.5}, threshold=2.0)
    assert s.value == 2.0 and s.passed is True
    assert _score(async_len, make_item("abc"), threshold=4).passed is False


def test_item_style_dict_and_score_results() -> None:
    item = make_item("x", ["ref"])
    s = _score(by_item, item)
    assert s.value == 0.25 and s.passed is None and s.reason == "turn=None expected=['ref']"
    s = _score(returns_score, item)
    assert (s.sample_id, s.metric, s.value, s.passed, s.reason) == ("s1", "custom", 0.9, True, "ok")


def test_bad_results_and_exceptions_become_errors() -> None:
    item = make_item("x")
    assert "unknown key(s) ['score']" in (_score(returns_junk, item).error or "")
    assert (
        _score(returns_none, item).error
        == "function returned None; return a float, bool, Score or dict"
    )
    s = _score(raises, item)
    assert s.error == "RuntimeError: metric bug" and s.value is None


def test_error_records_skipped_unless_asked() -> None:
    item = make_item(None, error=ErrorKind.HTTP)
    assert _score(polite, item).error == "no answer: http"
    s = _score(lambda s, r: r.error is not None, item, score_errors=True)
    assert s.value == 1.0


def test_register_metric_decorator_wraps_functions() -> None:
    @register_metric("test_shout")
    def shout(sample: TestSample, record: RunRecord) -> float:
        """Fraction of upper-case letters."""
        assert record.response is not None
        text = record.response.text
        return sum(c.isupper() for c in text) / max(1, len(text))

    try:
        assert "test_shout" in metric_registry.names()
        assert run("test_shout", make_item("ABcd")).value == 0.5
    finally:
        metric_registry.unregister("test_shout")


def test_python_metric_module_and_file(tmp_path: Path) -> None:
    s = run("python", make_item("hello"), {"function": "ct_fixture_plugin:length_metric"})
    assert s.value == 5.0 and s.metric == "python"
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "my_metric.py").write_text(
        "def mentions(sample, record, word):\n"
        "    return {'value': float(word in record.response.text), 'reason': 'looked for ' + word}\n"
    )
    opts = {"function": "checks/my_metric.py:mentions", "kwargs": {"word": "refund"}}
    s = run("python", make_item("we refund you"), opts, base_dir=tmp_path)
    assert s.value == 1.0 and s.reason == "looked for refund"


@pytest.mark.parametrize(
    ("function", "fragment"),
    [
        ("no_such_module_xyz:f", "cannot import function module 'no_such_module_xyz'"),
        ("ct_fixture_plugin:missing", "has no function 'missing'"),
        ("nocolon", "expected 'package.module:function'"),
        ("missing.py:f", "file not found"),
    ],
)
def test_python_metric_bad_function(function: str, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=fragment):
        create("python", {"function": function}, base_dir=tmp_path)


def test_entry_point_plugin_is_listed_and_scores() -> None:
    assert "fixture_len" in metric_registry.names()
    s = run("fixture_len", make_item("four"))
    assert s.value == 4.0 and s.metric == "fixture_len"
    from chatbot_tester.cli.metrics import describe_metrics

    row = next(r for r in describe_metrics() if r["name"] == "fixture_len")
    assert row["builtin"] is False and row["module"] == "ct_fixture_plugin"
    assert row["description"] == "Fixture metric: length of the answer text."
