"""Judge spend is counted apart from the bot's (issue 10): report.json ``judge_spend``,
report.md and the console line, from the usage the judge's server reported."""

from __future__ import annotations

import json
from pathlib import Path

from chatbot_tester.common.calls.cost import PriceTable
from chatbot_tester.common.config import EvaluatorConfig, JudgeConfig
from chatbot_tester.common.schemas import ChatResponse, RunRecord, TestSample, Usage
from chatbot_tester.evaluator import evaluate_run
from chatbot_tester.evaluator.metrics.base import MetricContext
from chatbot_tester.evaluator.reports.markdown import render_markdown

JUDGE_MODEL = "gpt-4o-mini"  # priced by the built-in table


def _write_run(run: Path, n: int) -> tuple[Path, Path]:
    run.mkdir(parents=True)
    dataset, results = run / "dataset.jsonl", run / "results.jsonl"
    with open(dataset, "w") as d, open(results, "w") as r:
        for i in range(n):
            d.write(TestSample(id=f"q{i}", input="Capital?", expected="Paris").model_dump_json())
            d.write("\n")
            record = RunRecord(
                sample_id=f"q{i}",
                backend="openai",
                response=ChatResponse(text="It is Paris."),
                usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
                cost_usd=0.5,
            )
            r.write(record.model_dump_json() + "\n")
    return dataset, results


async def test_judge_calls_are_counted_and_priced_apart_from_the_bot(
    tmp_path: Path, fault_server_factory
) -> None:
    verdict = json.dumps({"score": 5, "reason": "agrees with the reference"})
    srv = await fault_server_factory(responder=lambda messages: verdict)
    dataset, results = _write_run(tmp_path / "run", 4)
    config = EvaluatorConfig.model_validate(
        {"metrics": [{"type": "llm_judge", "name": "judge"}], "report": {"formats": ["json"]}}
    )
    ctx = MetricContext(
        judge=JudgeConfig(
            backend="openai",
            model=JUDGE_MODEL,
            options={"base_url": srv.base_url, "api_key": "sk-test-JUDGE-0123456789"},
            retries=0,
        ),
        cache=False,
    )
    evaluation = await evaluate_run(
        dataset, results, config, tmp_path / "run", context=ctx, run_id="r1"
    )
    report = evaluation.report
    assert report.cost.total == 2.0  # the bot's four records, unchanged
    spend = report.judge_spend
    assert spend is not None and spend.calls == 4 and spend.failed == 0 and srv.stats.requests == 4
    assert spend.tokens.total is not None and spend.tokens.total > 0
    assert not spend.tokens.estimated  # the server reported the usage
    price = PriceTable().price(JUDGE_MODEL)
    assert price is not None
    expected = (
        spend.tokens.prompt * price.input_per_million
        + spend.tokens.completion * price.output_per_million
    ) / 1_000_000
    assert spend.cost_usd is not None and abs(spend.cost_usd - expected) < 1e-12
    assert report.to_json_dict()["judge_spend"]["calls"] == 4
    markdown = render_markdown(report)
    assert "**Judge (apart from the bot):** 4 calls" in markdown, markdown


async def test_no_judge_means_no_judge_spend(tmp_path: Path) -> None:
    dataset, results = _write_run(tmp_path / "run", 2)
    config = EvaluatorConfig.model_validate({"metrics": [{"type": "contains", "value": "Paris"}]})
    evaluation = await evaluate_run(
        dataset, results, config, tmp_path / "run", context=MetricContext()
    )
    assert evaluation.report.judge_spend is None
