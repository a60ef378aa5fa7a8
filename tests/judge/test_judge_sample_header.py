"""The judge's requests carry the configured ``sample_id_header``, like the runner's."""

from __future__ import annotations

import json

from judge_helpers import make_item

from chatbot_tester.common.config import JudgeConfig
from chatbot_tester.evaluator.metrics import metric_registry
from chatbot_tester.evaluator.metrics.base import MetricContext


async def test_judge_requests_send_the_sample_id_header(fault_server_factory) -> None:
    verdict = json.dumps({"score": 5, "reason": "agrees with the reference"})
    srv = await fault_server_factory(responder=lambda messages: verdict)
    ctx = MetricContext(
        judge=JudgeConfig(
            backend="openai",
            model="judge-model",
            options={
                "base_url": srv.base_url,
                "api_key": "sk-test-JUDGE-0123456789",
                "sample_id_header": "X-Sample-Id",
            },
            retries=0,
        )
    )
    metric = metric_registry.create("llm_judge", {}, name="judge", context=ctx)
    try:
        score = await metric.ascore(make_item("It is Paris.", sample_id="sample-42"))
    finally:
        await metric.aclose()
    assert score.value == 1.0, score
    assert srv.last_headers.get("X-Sample-Id") == "sample-42"
    assert srv.stats.attempts == {"sample-42": 1}
