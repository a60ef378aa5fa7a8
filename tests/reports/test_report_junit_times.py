"""junit.xml carries real times: each case the chatbot's latency, suites and the run the sums."""

from __future__ import annotations

import pytest
from junitparser import JUnitXml
from report_helpers import evaluate, record


@pytest.fixture(scope="module")
def junit(tmp_path_factory: pytest.TempPathFactory) -> JUnitXml:
    tmp = tmp_path_factory.mktemp("junit_times")
    samples = [
        {"id": "fast", "input": "q1", "expected": "a"},
        {"id": "slow", "input": "q2", "expected": "b"},
        {"id": "err", "input": "q3", "expected": "c"},
        {
            "id": "multi",
            "turns": [{"user": "hi", "expected": "hello"}, {"user": "bye", "expected": "bye"}],
            "expected": "bye",
        },
    ]
    records = [
        record("fast", "a", latency_ms=12.0),
        record("fast", "a", repeat=1, latency_ms=8.0),
        record("slow", "wrong", latency_ms=1500.0),
        record("err", None),
        record(
            "multi",
            "bye",
            latency_ms=300.0,
            turns=[
                {"index": 0, "user": "hi", "response": {"text": "hello"}, "latency_ms": 100.0},
                {"index": 1, "user": "bye", "response": {"text": "bye"}, "latency_ms": 200.0},
            ],
        ),
    ]
    _, paths = evaluate(
        tmp,
        samples,
        records,
        {"metrics": [{"type": "exact_match"}, {"type": "latency"}]},
        formats=("junit",),
    )
    return JUnitXml.fromfile(str(paths["junit"]))


def _cases(xml: JUnitXml, suite_suffix: str) -> dict[str, float]:
    (suite,) = [s for s in xml if s.name.endswith(suite_suffix)]
    return {case.name: case.time for case in suite}


def test_each_case_has_its_records_latency_in_seconds(junit: JUnitXml) -> None:
    cases = _cases(junit, ".latency")
    assert cases["fast"] == pytest.approx(0.012)
    assert cases["fast #1"] == pytest.approx(0.008)
    assert cases["slow"] == pytest.approx(1.5)
    assert cases["err"] == 0  # no answer, no time
    assert cases["multi"] == pytest.approx(0.3)


def test_per_turn_cases_have_their_turns_latency(junit: JUnitXml) -> None:
    cases = _cases(junit, ".exact_match")
    turn_cases = {name: t for name, t in cases.items() if " turn " in name}
    if not turn_cases:
        pytest.fail(f"expected per-turn exact_match cases, got {sorted(cases)}")
    assert turn_cases["multi turn 1"] == pytest.approx(0.1)
    assert turn_cases["multi turn 2"] == pytest.approx(0.2)


def test_suites_sum_their_cases_and_the_run_sums_the_records(junit: JUnitXml) -> None:
    for suite in junit:
        assert suite.time == pytest.approx(sum(case.time for case in suite), abs=1e-3)
    latency = next(s for s in junit if s.name.endswith(".latency"))
    # 12 + 8 + 1500 ms, the multi-turn sample whole (300) and per turn (100, 200)
    assert latency.time == pytest.approx(2.12)
    root = junit._elem  # junitparser recomputes .time from the suites; read the attribute
    assert float(root.get("time")) == pytest.approx(0.012 + 0.008 + 1.5 + 0.3)


def test_no_case_says_zero_when_it_had_an_answer(junit: JUnitXml) -> None:
    for suite in junit:
        for case in suite:
            if case.name != "err":
                assert case.time > 0, (suite.name, case.name)
