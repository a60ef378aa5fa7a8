"""The judge over real HTTP: the openai backend against the loopback FaultServer."""

from __future__ import annotations

from typing import Any

from judge_helpers import ADVERSARIAL, gullible_verdict, make_item

from chatbot_tester.common.config import JudgeConfig
from chatbot_tester.evaluator.metrics import metric_registry
from chatbot_tester.evaluator.metrics.base import MetricContext
from chatbot_tester.testing.server import FaultPlan, FaultServer
from chatbot_tester.testing.server_payloads import message_text


def responder(messages: list[dict[str, Any]]) -> str:
    return gullible_verdict([message_text(m) for m in messages])


async def test_injection_resistance_over_http() -> None:
    async with FaultServer(responder=responder, api_key="sk-test-judge") as srv:
        ctx = MetricContext(
            judge=JudgeConfig(
                backend="openai",
                model="judge-model",
                options={"base_url": srv.base_url, "api_key": "sk-test-judge"},
                retries=0,
            )
        )
        metric = metric_registry.create("llm_judge", {}, name="judge", context=ctx)
        try:
            for i, (answer, good) in enumerate(ADVERSARIAL):
                s = await metric.ascore(make_item(answer, sample_id=f"h{i}"))
                assert s.error is None, s.error
                assert s.passed is good, f"fooled over HTTP by {answer!r}"
        finally:
            await metric.aclose()
        assert srv.stats.requests >= len(ADVERSARIAL)


async def test_judge_retries_server_faults() -> None:
    # the first two attempts of every conversation get a 429 (Retry-After 0.05 s)
    plan = FaultPlan(fail_first=2, modes=("429",))
    async with FaultServer(plan, responder=responder) as srv:
        ctx = MetricContext(
            judge=JudgeConfig(
                backend="openai",
                model="judge-model",
                options={"base_url": srv.base_url, "api_key": "x"},
                retries=3,
            )
        )
        metric = metric_registry.create("llm_judge", {"votes": 3}, name="judge", context=ctx)
        try:
            s = await metric.ascore(make_item("Paris"))
        finally:
            await metric.aclose()
        assert s.error is None and s.passed is True and s.details["vote_errors"] == 0
        assert srv.stats.faults and srv.stats.successes == 3
