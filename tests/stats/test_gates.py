"""Gates parsed from config strings and checked against a report.json summary."""

from __future__ import annotations

import pytest

from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.gates import check_gates, parse_gate

SUMMARY = {
    "schema_version": 1,
    "totals": {
        "samples": 40,
        "records": 40,
        "ok": 39,
        "errors": 1,
        "errors_by_kind": {"timeout": 1},
    },
    "metrics": {
        "exact_match": {"mean": 0.72, "pass_rate": 0.72, "passed": 29, "scored": 40},
        "assert:contains": {"mean": 1.0, "pass_rate": 1.0},
        "latency": {"mean": 0.5, "pass_rate": 0.25},
    },
    "latency": {"mean": 12.0, "p50": 10.0, "p95": 1500.0, "p99": 2500.0, "count": 39},
    "ttft": {"mean": None, "p50": None, "p95": None, "p99": None, "count": 0},
    "cost": {"total": 0.42, "known": 39, "unknown": 0},
    "tags": {"billing": {"exact_match": {"pass_rate": 0.9}}},
}


def one(expr: str):
    [result] = check_gates([expr], SUMMARY)
    return result


def test_failed_gate_message_is_one_line_with_actual() -> None:
    r = one("exact_match.pass_rate >= 0.8")
    assert not r.passed and r.actual == pytest.approx(0.72)
    assert r.message == "gate failed: exact_match.pass_rate >= 0.8 (actual 0.72)"


@pytest.mark.parametrize(
    ("expr", "passed"),
    [
        ("exact_match.pass_rate >= 0.7", True),
        ("exact_match.pass_rate>0.72", False),
        ("latency.p95 <= 2000", True),
        ("latency.p99 <= 2000", False),
        ("cost.total <= 1.0", True),
        ("cost.total < 0.42", False),
        ("totals.errors == 0", False),
        ("totals.errors != 0", True),
        ("totals.errors_by_kind.timeout <= 1", True),
        ("assert:contains.pass_rate == 1", True),
        ("tags.billing.exact_match.pass_rate >= 0.85", True),
        ("latency.p50 >= 1e1", True),
    ],
)
def test_gate_outcomes(expr: str, passed: bool) -> None:
    r = one(expr)
    assert r.passed is passed, r.message
    assert r.message.startswith("gate passed" if passed else "gate failed")


def test_metric_named_like_a_section_wins_over_the_section() -> None:
    # metrics.<name>.<stat> is looked up first: a metric called "latency" shadows the section
    assert one("latency.pass_rate >= 0.2").passed
    assert one("latency.mean <= 1").actual == 0.5


def test_unknown_metric_lists_what_exists() -> None:
    r = one("exact_macth.pass_rate >= 0.8")
    assert not r.passed and r.actual is None
    assert "did you mean 'exact_match'" in r.message
    assert "assert:contains" in r.message and "latency" in r.message


def test_unknown_stat_lists_the_stats() -> None:
    r = one("exact_match.p95 <= 1")
    assert not r.passed
    assert "no stat 'p95'" in r.message and "pass_rate" in r.message


def test_null_value_fails_with_reason() -> None:
    r = one("ttft.p95 <= 500")
    assert not r.passed and "ttft.p95 is null" in r.message


def test_unknown_section_stat() -> None:
    r = one("latency.p42 <= 1")
    # "latency" is also a metric name; the metric is checked first and has no p42
    assert "no stat 'p42'" in r.message
    r2 = one("cost.totl <= 1")
    assert "did you mean 'total'" in r2.message


@pytest.mark.parametrize(
    "expr",
    [
        "exact_match.pass_rate => 0.8",
        "pass_rate >= 0.8",
        "exact_match.pass_rate >= high",
        "",
        ".x >= 1",
        "a..b >= 1",
    ],
)
def test_parse_gate_rejects_bad_syntax(expr: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate(expr)
    message = str(info.value)
    assert (
        message.startswith(f"invalid gate {expr!r}") and "exact_match.pass_rate >= 0.8" in message
    )


def test_parse_gate_parts_and_bad_gate_in_check_fails() -> None:
    assert parse_gate(" latency.p95<=2000 ") == ("latency.p95", "<=", 2000.0)
    [r] = check_gates(["nonsense"], SUMMARY)
    assert not r.passed and "invalid gate" in r.message


def test_check_gates_keeps_order() -> None:
    results = check_gates(["latency.p95 <= 2000", "exact_match.pass_rate >= 0.8"], SUMMARY)
    assert [r.passed for r in results] == [True, False]


def test_cost_total_reads_dollars_even_with_a_cost_metric() -> None:
    summary = {
        "metrics": {"cost": {"mean": 0.004, "total": 200, "scored": 200, "pass_rate": None}},
        "cost": {"total": 0.8, "known": 200, "unknown": 0},
    }
    (r,) = check_gates(["cost.total <= 1.0"], summary)
    assert r.passed and r.actual == 0.8
    (r,) = check_gates(["cost.mean <= 0.01"], summary)
    assert r.actual == 0.004  # the metric's own stats still win


@pytest.mark.parametrize(
    ("expr", "hint"),
    [("token_f1.passrate >= 0.8", "did you mean 'pass_rate'"), ("latency.p96 <= 100", "p95")],
)
def test_gate_names_unknown_stats_with_a_hint(expr: str, hint: str) -> None:
    from chatbot_tester.evaluator.gates import check_gate_names

    with pytest.raises(ConfigError, match="has no stat") as info:
        check_gate_names(expr, {"token_f1"})
    assert hint in str(info.value)
    check_gate_names("token_f1.pass_rate >= 0.8", {"token_f1"})
    check_gate_names("cost.total <= 1", {"token_f1"})
