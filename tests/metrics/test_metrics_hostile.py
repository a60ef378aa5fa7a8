"""Metrics facing hostile patterns, schemas and judge replies (issue 10)."""

from __future__ import annotations

import pytest
from ct_metric_kit import create, make_item, run

from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics.judge_verdict import parse_verdict


def test_redos_pattern_is_a_metric_error_within_its_budget() -> None:
    item = make_item("a" * 5000 + "!")
    score = run("regex", item, {"pattern": "(a+)+$", "timeout_s": 0.2})
    assert score.value is None
    assert score.error is not None and "0.2 s budget" in score.error


def test_regex_still_matches_normally() -> None:
    score = run("regex", make_item("order 2024-05-01"), {"pattern": r"\d{4}-\d{2}-\d{2}"})
    assert score.error is None and score.value == 1.0


@pytest.mark.parametrize(
    ("schema", "hint"),
    [
        ({"$ref": "#"}, "loops back"),
        ({"$defs": {"a": {"not": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"}, "loops back"),
        ({"properties": {"x": {"$ref": "#/$defs/missing"}}}, "#/$defs/missing"),
        ({"$ref": "https://127.0.0.1:1/remote.json"}, "cannot be resolved"),
    ],
)
def test_bad_refs_are_rejected_up_front(schema: dict[str, object], hint: str) -> None:
    with pytest.raises(ConfigError, match=hint.replace("$", r"\$")):
        create("json_schema", {"schema": schema})


def test_a_recursive_tree_schema_is_allowed() -> None:
    tree = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
    }
    score = run("json_schema", make_item('{"children": [{"children": []}]}'), {"schema": tree})
    assert score.error is None and score.value == 1.0


def test_a_verdict_with_a_repeated_score_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="repeats the key 'score'"):
        parse_verdict('{"score": 1, "reason": "bad", "score": 5}', (1.0, 5.0))


def test_any_repeated_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="repeats the key 'reason'"):
        parse_verdict('{"reason": "a", "score": 3, "reason": "b"}', (1.0, 5.0))


def test_tool_call_name_in_a_pipeline_reaches_the_metric() -> None:
    from chatbot_tester.common.config import MetricSpec
    from chatbot_tester.common.schemas import ToolCall

    spec = MetricSpec.model_validate({"type": "tool_call", "name": "get_weather"})
    assert spec.label == "get_weather" and spec.options == {"function": "get_weather"}
    call = ToolCall(name="get_weather", arguments={"city": "Paris"})
    item = make_item("", tool_calls=[call])
    assert run("tool_call", item, spec.options).passed is True
    other = make_item("", tool_calls=[ToolCall(name="book", arguments={})])
    assert run("tool_call", other, spec.options).passed is False
    labelled = MetricSpec.model_validate({"type": "tool_call", "name": "x", "function": "f"})
    assert labelled.options == {"function": "f"}
