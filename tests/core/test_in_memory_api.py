"""``chatbot_tester.evaluate``: samples, answers or a chatbot, metrics -> typed results, no workspace."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import chatbot_tester
from chatbot_tester import EvaluationResult, SampleResult, UsageError, evaluate
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.testing import FaultServer, FunctionBackend

KB = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "kb.yaml"

SAMPLES = [
    {"id": "greet", "input": "hi", "expected": "hello", "tags": ["smalltalk"]},
    {"id": "bye", "input": "bye", "expected": "goodbye"},
]


def test_answers_in_order_give_typed_results_and_a_decision() -> None:
    result = evaluate(SAMPLES, ["hello", "see you"], ["exact_match"])
    assert isinstance(result, EvaluationResult)
    assert [type(s) for s in result.samples] == [SampleResult, SampleResult]
    assert [s.sample_id for s in result.samples] == ["greet", "bye"]
    assert [s.passed for s in result.samples] == [True, False]
    assert result["bye"].score("exact_match").passed is False
    assert result.report.metrics["exact_match"].pass_rate == 0.5
    assert result.passed  # no gates: answered and scored is a pass for the run
    assert [s.sample_id for s in result.failures] == ["bye"]


def test_thresholds_decide_and_answers_by_id() -> None:
    result = evaluate(
        SAMPLES,
        {"bye": "goodbye", "greet": "hey"},
        ["exact_match"],
        thresholds=["exact_match.pass_rate >= 0.8"],
    )
    assert [s.passed for s in result.samples] == [False, True]
    assert not result.passed
    assert result.report.decision.failed_gates[0].expr == "exact_match.pass_rate >= 0.8"


def test_plain_questions_get_row_ids_and_assertions_are_scored() -> None:
    result = evaluate(
        [
            "What is 2+2?",
            {"input": "Capital of France?", "assertions": [{"type": "contains", "value": "Paris"}]},
        ],
        ["4", "It is Lyon."],
        [{"type": "regex", "pattern": "\\d"}],
    )
    assert [s.sample_id for s in result.samples] == ["row-1", "row-2"]
    second = result["row-2"]
    assert second.score("assert:contains").passed is False
    assert second.score("regex").passed is False
    assert result["row-1"].passed


def test_no_answer_is_an_error_record() -> None:
    result = evaluate(SAMPLES, ["hello", None], ["exact_match"])
    assert result["bye"].error == "bad_response: no answer given"
    assert not result["bye"].passed
    assert not result.passed  # errors beyond max_error_rate 0


def test_a_callable_and_a_function_backend_answer() -> None:
    result = evaluate(SAMPLES, lambda prompt: {"hi": "hello"}.get(prompt, "?"), ["exact_match"])
    assert [s.answer for s in result.samples] == ["hello", "?"]
    backend = FunctionBackend(lambda prompt: prompt.upper())
    result = evaluate(SAMPLES, backend, [{"type": "regex", "pattern": "^[A-Z]+$"}])
    assert [s.answer for s in result.samples] == ["HI", "BYE"]
    assert all(s.passed for s in result.samples)
    assert len(backend.calls) == 2
    assert result["greet"].record is not None and result["greet"].record.latency_ms is not None


def test_runner_config_runs_the_demo_bot() -> None:
    runner = RunnerConfig(
        backend="demo", options={"knowledge_base": str(KB)}, repeat=2, concurrency=2
    )
    samples = [
        {
            "id": "refund",
            "input": "How long do refunds take?",
            "expected": "Refunds are issued to your original payment method within 5–7 "
            "business days after we receive your return.",
        }
    ]
    result = evaluate(samples, runner, ["exact_match", "latency"])
    assert [(s.sample_id, s.record.repeat if s.record else None) for s in result.samples] == [
        ("refund", 0),
        ("refund", 1),
    ]
    assert all(s.score("exact_match").passed for s in result.samples)


def test_a_real_http_backend_on_loopback(fault_server_thread: FaultServer) -> None:
    runner = RunnerConfig(
        backend="openai",
        model="test-model",
        retries=0,
        options={"base_url": fault_server_thread.base_url, "api_key": "key-for-tests-1234"},
    )
    result = evaluate(["ping"], runner, [{"type": "contains", "value": "ping"}])
    assert result.samples[0].passed, result.samples[0].explain()
    assert fault_server_thread.stats.requests == 1


def test_to_pandas_is_one_row_per_score() -> None:
    pandas = pytest.importorskip("pandas")  # in the dev extra: never skipped under make test
    result = evaluate(SAMPLES, ["hello", "nope"], ["exact_match", "token_f1"])
    frame = result.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert len(frame) == 4
    wide = frame.pivot(index="sample_id", columns="metric", values="value")
    assert wide.loc["greet", "exact_match"] == 1.0
    assert wide.loc["bye", "exact_match"] == 0.0
    assert set(frame.columns) >= {"sample_id", "answer", "expected", "metric", "passed", "reason"}


def test_sync_call_inside_a_running_loop_works_without_nest_asyncio() -> None:
    """What a Jupyter cell does: a plain call while the notebook's loop is running."""
    seen: list[str] = []

    def bot(prompt: str) -> str:
        seen.append(threading.current_thread().name)
        return "hello" if prompt == "hi" else "goodbye"

    async def cell() -> EvaluationResult:
        asyncio.get_running_loop()  # a loop is running here, as in a notebook
        return evaluate(SAMPLES, bot, ["exact_match"])

    result = asyncio.run(cell())
    assert all(s.passed for s in result.samples)
    assert seen and all(name.startswith("chatbot-tester") for name in seen)


async def test_aevaluate_in_the_callers_loop() -> None:
    async def bot(prompt: str) -> str:
        await asyncio.sleep(0)
        return "hello" if prompt == "hi" else "goodbye"

    result = await chatbot_tester.aevaluate(SAMPLES, bot, ["exact_match"])
    assert [s.passed for s in result.samples] == [True, True]


def test_assert_passes_explains_a_failure() -> None:
    sample = {"id": "greet", "input": "hi", "expected": "hello"}
    chatbot_tester.assert_passes("hello", metrics=["exact_match"], sample=sample)
    with pytest.raises(AssertionError) as info:
        chatbot_tester.assert_passes(
            "no idea", metrics=["exact_match", {"type": "contains", "value": "hell"}], sample=sample
        )
    text = str(info.value)
    assert "sample greet: FAILED" in text
    assert "answer:   no idea" in text
    assert "expected: hello" in text
    assert "FAIL  exact_match 0" in text
    assert "FAIL  contains" in text
    with pytest.raises(UsageError, match="nothing to check"):
        chatbot_tester.assert_passes("hello", sample=sample)


@pytest.mark.parametrize(
    ("samples", "answers", "message"),
    [
        (SAMPLES, ["one"], "1 answers for 2 samples"),
        (SAMPLES, {"greet": "x"}, "no answer for samples"),
        ([{"id": "a", "input": "x"}, {"id": "a", "input": "y"}], ["1", "2"], "duplicate id 'a'"),
        ([{"id": "a"}], ["1"], "exactly one of .input. or .turns."),
        ([], [], "no samples"),
    ],
)
def test_bad_input_is_one_usage_error(samples: list, answers: object, message: str) -> None:
    with pytest.raises(chatbot_tester.ChatbotTesterError, match=message):
        evaluate(samples, answers, ["exact_match"])  # type: ignore[arg-type]
