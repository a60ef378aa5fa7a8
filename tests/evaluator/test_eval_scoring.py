"""evaluate_run: what gets scored, with which inputs, and how errors and duplicates count."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import (
    CALLS,
    CLOSED,
    SlowAsyncMetric,
    evaluate_files,
    rec,
    run_eval,
    scores_by_key,
)

from chatbot_tester.common.events import EventBus, ItemFinished
from chatbot_tester.errors import DatasetError


async def test_single_turn_metrics_and_assertions(tmp_path: Path) -> None:
    samples = [
        {
            "id": "a",
            "input": "capital of France?",
            "expected": "Paris",
            "assertions": [
                {"type": "contains", "value": "Par"},
                {"type": "regex", "pattern": "^P"},
                {"type": "regex", "pattern": "x$"},
                {"type": "icontains", "value": "paris", "name": "mentions paris"},
            ],
        },
        {"id": "b", "input": "2+2?", "expected": "4"},
    ]
    ev = await run_eval(
        tmp_path,
        samples,
        [rec("a", "Paris"), rec("b", "5")],
        {"metrics": [{"type": "exact_match"}]},
    )
    scores = scores_by_key(tmp_path)
    assert set(scores) == {
        ("a", 0, None, "exact_match"),
        ("a", 0, None, "assert:contains"),
        ("a", 0, None, "assert:regex:1"),
        ("a", 0, None, "assert:regex:2"),
        ("a", 0, None, "assert:mentions paris"),
        ("b", 0, None, "exact_match"),
    }
    assert scores[("a", 0, None, "assert:regex:1")]["passed"] is True
    assert scores[("a", 0, None, "assert:regex:2")]["passed"] is False
    assert scores[("b", 0, None, "exact_match")]["passed"] is False
    m = ev.summary["metrics"]
    assert next(iter(m)) == "exact_match"
    assert m["exact_match"]["scored"] == 2 and m["exact_match"]["passed"] == 1
    assert m["assert:contains"]["total"] == 1  # assertions count only where they exist


async def test_multi_turn_scored_per_turn_and_whole(tmp_path: Path) -> None:
    samples = [
        {
            "id": "m",
            "turns": [
                {"user": "hi", "expected": "hello"},
                {
                    "user": "bye",
                    "expected": "goodbye",
                    "assertions": [{"type": "contains", "value": "good"}],
                },
            ],
            "expected": "see you",
        }
    ]
    record = rec(
        "m",
        "goodbye",
        turns=[
            {"index": 0, "user": "hi", "response": {"text": "hello"}},
            {"index": 1, "user": "bye", "response": {"text": "goodbye"}},
        ],
    )
    ev = await run_eval(
        tmp_path, samples, [record], {"metrics": [{"type": "h8_count", "name": "mt_count"}]}
    )
    scores = scores_by_key(tmp_path)
    assert set(scores) == {
        ("m", 0, 0, "mt_count"),
        ("m", 0, 1, "mt_count"),
        ("m", 0, 1, "assert:contains"),
        ("m", 0, None, "mt_count"),
    }
    # each turn is compared with its own expected answer, the whole sample with the sample's
    assert scores[("m", 0, 0, "mt_count")]["details"] == {"expected": ["hello"], "turn": 0}
    assert scores[("m", 0, 1, "mt_count")]["passed"] is True
    assert scores[("m", 0, None, "mt_count")]["details"]["expected"] == ["see you"]
    assert scores[("m", 0, None, "mt_count")]["passed"] is False  # last reply vs "see you"
    assert ev.summary["metrics"]["mt_count"]["scored"] == 1
    assert ev.summary["turn_metrics"]["mt_count"]["passed"] == 2
    assert ev.summary["turn_metrics"]["assert:contains"]["passed"] == 1


async def test_error_records_are_not_scored_and_count_as_errors(tmp_path: Path) -> None:
    samples = [
        {"id": "a", "input": "q", "expected": "x"},
        {"id": "b", "input": "q", "expected": "x"},
    ]
    ev = await run_eval(
        tmp_path, samples, [rec("a", "x"), rec("b", None)], {"metrics": [{"type": "exact_match"}]}
    )
    b = scores_by_key(tmp_path)[("b", 0, None, "exact_match")]
    assert b["error"] == "no answer: timeout" and b["value"] is None and b["passed"] is None
    t = ev.summary["totals"]
    assert (t["records"], t["ok"], t["errors"], t["errors_by_kind"]) == (2, 1, 1, {"timeout": 1})
    em = ev.summary["metrics"]["exact_match"]
    assert (em["scored"], em["errors"], em["total"], em["pass_rate"]) == (1, 1, 2, 0.5)


async def test_duplicate_records_first_wins(tmp_path: Path) -> None:
    samples = [{"id": "a", "input": "q", "expected": "x"}]
    records = [rec("a", "x"), rec("a", "wrong"), rec("a", "y", repeat=1), rec("a", "x", repeat=1)]
    ev = await run_eval(tmp_path, samples, records, {"metrics": [{"type": "exact_match"}]})
    scores = scores_by_key(tmp_path)
    assert len(scores) == 2
    assert scores[("a", 0, None, "exact_match")]["passed"] is True
    assert scores[("a", 1, None, "exact_match")]["passed"] is False
    assert ev.summary["totals"]["records"] == 2


async def test_summary_numbers_on_a_hand_computed_fixture(tmp_path: Path) -> None:
    samples = [
        {"id": "s1", "input": "q", "expected": "a", "tags": ["billing"]},
        {"id": "s2", "input": "q", "expected": "b", "tags": ["billing", "vip"]},
        {"id": "s3", "input": "q", "expected": "c"},
        {"id": "s4", "input": "q", "expected": "d"},
        {"id": "s5", "input": "q", "expected": "e", "tags": ["vip"]},
    ]
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    records = [
        rec("s1", "a", latency_ms=100.0, usage=usage, cost_usd=0.01),
        rec("s2", "b", latency_ms=200.0, usage=usage, cost_usd=0.02, ttft_ms=50.0),
        rec("s3", "wrong", latency_ms=300.0, usage=usage),
        rec("s4", None, error={"kind": "http", "message": "boom", "status_code": 500}),
        # s5 has no record at all
    ]
    ev = await run_eval(
        tmp_path,
        samples,
        records,
        {
            "metrics": [{"type": "exact_match"}],
            "thresholds": [
                "exact_match.pass_rate >= 0.4",
                "latency.p95 <= 250",
                "totals.errors <= 0",
            ],
        },
    )
    s = ev.summary
    assert s["totals"] == {
        "samples": 5,
        "records": 4,
        "ok": 3,
        "errors": 1,
        "errors_by_kind": {"http": 1},
        "missing": 1,
        "repeats": 1,
        "error_rate": 0.25,
    }
    em = s["metrics"]["exact_match"]
    assert em["mean"] == pytest.approx(2 / 3)
    assert (em["passed"], em["failed"], em["errors"], em["scored"], em["total"]) == (2, 1, 1, 3, 5)
    assert em["pass_rate"] == pytest.approx(2 / 4)  # errors count against the pass rate
    assert em["pass_ci_low"] < 0.5 < em["pass_ci_high"]
    assert em["ci_low"] <= em["mean"] <= em["ci_high"]
    # numpy's linear percentiles of [100, 200, 300]
    assert s["latency"] == {"mean": 200.0, "p50": 200.0, "p95": 290.0, "p99": 298.0, "count": 3}
    assert s["ttft"]["mean"] == 50.0 and s["ttft"]["count"] == 1
    assert s["tokens"] == {"prompt": 30, "completion": 15, "total": 45, "estimated": False}
    assert s["cost"]["total"] == pytest.approx(0.03)
    assert (s["cost"]["known"], s["cost"]["unknown"]) == (2, 1)
    assert s["tags"]["billing"]["exact_match"]["pass_rate"] == 1.0
    assert s["tags"]["vip"]["exact_match"]["scored"] == 1
    assert s["tags"]["vip"]["exact_match"]["total"] == 2  # s5 never ran
    assert [g["passed"] for g in s["gates"]] == [True, False, False]
    assert ev.passed is False and s["passed"] is False
    assert [g.expr for g in ev.failed_gates] == ["latency.p95 <= 250", "totals.errors <= 0"]


async def test_only_tags_limits_a_metric(tmp_path: Path) -> None:
    samples = [
        {"id": "a", "input": "q", "expected": "x", "tags": ["t"]},
        {"id": "b", "input": "q", "expected": "x"},
    ]
    ev = await run_eval(
        tmp_path,
        samples,
        [rec("a", "x"), rec("b", "x")],
        {
            "metrics": [
                {"type": "exact_match"},
                {"type": "contains", "value": "x", "only_tags": ["t"]},
            ]
        },
    )
    assert set(scores_by_key(tmp_path)) == {
        ("a", 0, None, "exact_match"),
        ("b", 0, None, "exact_match"),
        ("a", 0, None, "contains"),
    }
    assert ev.summary["metrics"]["contains"]["total"] == 1


async def test_bad_assertion_is_reported_before_any_metric_call(tmp_path: Path) -> None:
    samples = [
        {"id": "a", "input": "q", "expected": "x"},
        {"id": "b", "input": "q", "assertions": [{"type": "contains", "valeu": "x"}]},
    ]
    with pytest.raises(DatasetError) as info:
        await run_eval(
            tmp_path,
            samples,
            [rec("a", "x"), rec("b", "x")],
            {"metrics": [{"type": "h8_count", "name": "bad_count"}]},
        )
    assert info.value.line == 2 and str(tmp_path / "dataset.jsonl") in str(info.value)
    assert "valeu" in str(info.value) and "sample 'b'" in str(info.value)
    assert CALLS["bad_count"] == 0
    assert CLOSED["bad_count"] == 1  # metrics are closed on the error path too


async def test_async_metrics_run_concurrently_and_events_are_emitted(tmp_path: Path) -> None:
    samples = [{"id": f"s{i}", "input": "q", "expected": "x"} for i in range(40)]
    events: list[ItemFinished] = []
    bus = EventBus()
    bus.subscribe(lambda e: events.append(e) if isinstance(e, ItemFinished) else None)
    SlowAsyncMetric.peak = 0
    await run_eval(
        tmp_path,
        samples,
        [rec(f"s{i}", "x") for i in range(39)] + [rec("s39", None)],
        {"metrics": [{"type": "h8_slow"}, {"type": "h8_count", "name": "ev_count"}]},
        bus=bus,
        concurrency=8,
    )
    assert 1 < SlowAsyncMetric.peak <= 8
    assert sorted(e.item_id for e in events) == sorted(f"s{i}" for i in range(40))
    assert all(e.stage == "evaluate" for e in events)
    bad = [e for e in events if not e.ok]
    assert [(e.item_id, e.error_kind) for e in bad] == [("s39", "timeout")]
    assert CLOSED["ev_count"] == 1


async def test_records_of_unknown_samples_are_ignored(tmp_path: Path) -> None:
    samples = [{"id": "a", "input": "q", "expected": "x"}]
    ev = await run_eval(
        tmp_path,
        samples,
        [rec("a", "x"), rec("ghost", "x")],
        {"metrics": [{"type": "exact_match"}]},
    )
    assert set(scores_by_key(tmp_path)) == {("a", 0, None, "exact_match")}
    assert ev.summary["totals"]["records"] == 1


async def test_no_metrics_and_no_results(tmp_path: Path) -> None:
    samples = [{"id": "a", "input": "q"}]
    (tmp_path / "results.jsonl").unlink(missing_ok=True)
    ev = await run_eval(tmp_path, samples, None, {})
    assert ev.summary["metrics"] == {} and ev.passed
    assert ev.summary["totals"]["missing"] == 1 and ev.summary["totals"]["records"] == 0
    paths = (await evaluate_files(tmp_path, {}, ("html", "junit", "md", "json"))).reports
    assert "missing" in paths["html"].read_text()
    assert b"<testsuites" in paths["junit"].read_bytes()
