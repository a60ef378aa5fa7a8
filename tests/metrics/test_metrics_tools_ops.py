"""tool_call subset/exact, operational metrics, multi-turn inputs and turn_pass_rate."""

from __future__ import annotations

import pytest
from ct_metric_kit import create, make_item, run

from chatbot_tester.common.schemas import (
    ChatResponse,
    ErrorInfo,
    TestSample,
    ToolCall,
    Turn,
    TurnRecord,
)
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.evaluator.metrics import metric_registry

WEATHER = ToolCall(
    name="get_weather",
    arguments={"city": "Paris", "unit": "C", "opts": {"days": 3, "hourly": False}},
)


@pytest.mark.parametrize(
    ("options", "passed"),
    [
        ({"name": "get_weather"}, True),
        ({"name": "get_time"}, False),
        ({"name": "get_weather", "arguments": {"city": "Paris"}}, True),
        ({"name": "get_weather", "arguments": {"city": "paris"}}, False),
        ({"name": "get_weather", "arguments": {"opts": {"days": 3}}}, True),
        ({"name": "get_weather", "arguments": {"opts": {"days": 3.0}}}, True),
        ({"name": "get_weather", "arguments": {"opts": {"hourly": 0}}}, False),
        ({"name": "get_weather", "arguments": {"city": "Paris"}, "match": "exact"}, False),
        ({"name": "get_weather", "arguments": WEATHER.arguments, "match": "exact"}, True),
        ({"name": "get_weather", "arguments": {"country": "FR"}}, False),
    ],
)
def test_tool_call_subset_and_exact(options: dict, passed: bool) -> None:
    s = run("tool_call", make_item("", tool_calls=[WEATHER]), options)
    assert s.passed is passed
    assert s.value == (1.0 if passed else 0.0)


def test_tool_call_string_arguments_and_multiple_calls() -> None:
    calls = [ToolCall(name="a", arguments='{"x": 1}'), ToolCall(name="b", arguments="{not json")]
    item = make_item("", tool_calls=calls)
    assert run("tool_call", item, {"name": "a", "arguments": {"x": 1}}).passed is True
    bad = run("tool_call", item, {"name": "b", "arguments": {"y": 1}})
    assert bad.passed is False and "not valid JSON" in (bad.reason or "")
    both = run("tool_call", item, {"calls": [{"name": "a"}, {"name": "c"}]})
    assert both.value == 0.5 and both.passed is False and "no call to 'c'" in (both.reason or "")
    none = run("tool_call", make_item("plain text"), {"name": "a"})
    assert none.passed is False and "(called: none)" in (none.reason or "")


def test_tool_call_from_sample_metadata_or_expected() -> None:
    meta = {"expected_tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    assert run("tool_call", make_item("", tool_calls=[WEATHER], metadata=meta)).passed is True
    exp = '{"name": "get_weather", "arguments": {"city": "Rome"}}'
    assert run("tool_call", make_item("", exp, tool_calls=[WEATHER])).passed is False
    missing = run("tool_call", make_item("", tool_calls=[WEATHER], sample_id="t9"))
    assert missing.error == "no expected tool call for sample 't9'"


@pytest.mark.parametrize(
    ("metric", "options", "record", "val", "passed"),
    [
        ("latency", {"max_ms": 500}, {"latency_ms": 120.0}, 120.0, True),
        ("latency", {"max_ms": 100}, {"latency_ms": 120.0}, 120.0, False),
        ("latency", {}, {"latency_ms": 120.0}, 120.0, None),
        ("ttft", {"max_ms": 50}, {"ttft_ms": 30.0}, 30.0, True),
        ("cost", {"max_usd": 0.01}, {"cost_usd": 0.02}, 0.02, False),
        ("cost", {"max_usd": 0.01}, {"cost_usd": 0.0}, 0.0, True),
    ],
)
def test_operational(
    metric: str, options: dict, record: dict, val: float, passed: bool | None
) -> None:
    s = run(metric, make_item("ok", **record), options)
    assert s.value == val and s.passed is passed


@pytest.mark.parametrize(
    ("metric", "what"), [("latency", "latency"), ("ttft", "time to first token"), ("cost", "cost")]
)
def test_operational_missing_measurement_is_error(metric: str, what: str) -> None:
    s = run(metric, make_item("ok", sample_id="m1"))
    assert s.value is None and s.error is not None
    assert s.error.startswith(f"no {what}") and "sample 'm1'" in s.error


def _conversation() -> tuple[TestSample, list[TurnRecord]]:
    sample = TestSample(
        id="conv",
        turns=[
            Turn(user="hi", expected="Hello", assertions=[{"type": "icontains", "value": "help"}]),
            Turn(user="order?", expected="shipped"),
            Turn(user="bye", assertions=[{"type": "regex", "pattern": "bye", "flags": "i"}]),
            Turn(user="thanks"),
        ],
    )
    turns = [
        TurnRecord(
            index=0,
            user="hi",
            response=ChatResponse(text="Hello! How can I help?"),
            latency_ms=10.0,
            ttft_ms=3.0,
        ),
        TurnRecord(
            index=1, user="order?", response=ChatResponse(text="It is on its way."), latency_ms=20.0
        ),
        TurnRecord(index=2, user="bye", response=ChatResponse(text="Bye!"), latency_ms=30.0),
        TurnRecord(
            index=3, user="thanks", response=ChatResponse(text="You're welcome"), latency_ms=5.0
        ),
    ]
    return sample, turns


def test_metrics_score_per_turn_inputs() -> None:
    from ct_metric_kit import make_item as mk

    from chatbot_tester.evaluator.metrics import MetricInput

    sample, turns = _conversation()
    item0 = mk(sample=sample, turns=turns, turn=0, latency_ms=65.0)
    item0 = MetricInput(
        sample=sample, record=item0.record, output=item0.output, expected=["Hello"], turn=0
    )
    s = run("exact_match", item0)
    assert s.turn == 0 and s.value == 0.0
    assert run("token_f1", item0).value == pytest.approx(2 * (1 / 5) / (1 / 5 + 1))
    lat = run("latency", item0, {"max_ms": 15})
    assert lat.value == 10.0 and lat.passed is True and lat.turn == 0
    assert run("ttft", item0).value == 3.0
    item1 = mk(sample=sample, turns=turns, turn=1)
    assert (
        run("ttft", item1).error
        == "no time to first token (stream: true) measured for sample 'conv' turn 1"
    )
    assert metric_registry.get("cost").per_turn is False
    assert metric_registry.get("turn_pass_rate").per_turn is False
    assert metric_registry.get("exact_match").per_turn is True


def test_turn_error_gives_no_answer_error() -> None:
    from chatbot_tester.evaluator.metrics import MetricInput

    sample, turns = _conversation()
    turns[1] = TurnRecord(
        index=1, user="order?", error=ErrorInfo(kind=ErrorKind.RATE_LIMITED, message="429")
    )
    base = make_item(sample=sample, turns=turns)
    item = MetricInput(sample=sample, record=base.record, output=None, expected=["shipped"], turn=1)
    assert run("contains", item).error == "no answer: rate_limited"


def test_turn_pass_rate() -> None:
    sample, turns = _conversation()
    item = make_item("You're welcome", sample=sample, turns=turns)
    s = run("turn_pass_rate", item)
    assert s.value == 1.0 and s.passed is True and s.reason == "2/2 turns passed"
    s = run("turn_pass_rate", item, {"check": "contains"})
    assert s.value == pytest.approx(2 / 3) and s.passed is False
    assert "turn 1" in (s.reason or "")
    assert run("turn_pass_rate", item, {"check": "contains", "threshold": 0.6}).passed is True
    turns[2] = TurnRecord(index=2, user="bye", error=ErrorInfo(kind=ErrorKind.TIMEOUT, message="t"))
    s = run("turn_pass_rate", make_item("x", sample=sample, turns=turns))
    assert s.value == 0.5 and "turn 2: no reply" in (s.reason or "")
    single = run("turn_pass_rate", make_item("x", "y", sample_id="one"))
    assert single.error == "sample 'one' is not a multi-turn sample"


def test_turn_pass_rate_bad_check_is_config_error() -> None:
    from chatbot_tester.errors import ChatbotTesterError

    with pytest.raises(ChatbotTesterError, match="exact_match"):
        create("turn_pass_rate", {"check": "exact_macth"})


PER_TURN_OPTIONS: dict[str, dict] = {
    "exact_match": {},
    "token_f1": {},
    "length": {"max_words": 50},
    "contains": {},
    "icontains": {},
    "not_contains": {"value": "zzz"},
    "contains_any": {},
    "contains_all": {},
    "starts_with": {},
    "regex": {"pattern": "way"},
    "json_valid": {},
    "json_schema": {"schema": {"type": "string"}},
    "json_equals": {"value": "x"},
    "levenshtein": {},
    "fuzzy": {},
    "bleu": {},
    "rouge": {},
    "latency": {"max_ms": 100},
    "refusal": {"expect": "answer"},
    "handoff": {},
    "pii_leak": {},
    "tool_call": {"name": "lookup"},
}


@pytest.mark.parametrize("metric", sorted(PER_TURN_OPTIONS))
def test_every_text_metric_scores_a_turn(metric: str) -> None:
    from chatbot_tester.evaluator.metrics import MetricInput

    sample, turns = _conversation()
    turns[1] = TurnRecord(
        index=1,
        user="order?",
        response=ChatResponse(text="It is on its way.", tool_calls=[ToolCall(name="lookup")]),
        latency_ms=20.0,
    )
    base = make_item("You're welcome", sample=sample, turns=turns, latency_ms=65.0)
    item = MetricInput(
        sample=sample, record=base.record, output="It is on its way.", expected=["shipped"], turn=1
    )
    assert metric_registry.get(metric).per_turn is True
    s = run(metric, item, PER_TURN_OPTIONS[metric])
    assert s.error is None, s.error
    assert (
        s.turn == 1
        and s.value is not None
        and 0.0 <= s.value <= (100.0 if metric == "latency" else 1.0)
    )
    expected_pass = {
        "latency": True,
        "tool_call": True,
        "refusal": True,
        "pii_leak": True,
        "regex": True,
        "handoff": False,
    }
    if metric in expected_pass:
        assert s.passed is expected_pass[metric]
