"""``--dry-run`` prices the run with the same per-sample estimate as the runner's budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot_tester.common.calls.cost import PriceTable
from chatbot_tester.common.config import Price
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.orchestrator import plan_pipeline
from chatbot_tester.runner.budget import CostBudget

ROWS = [
    {"id": "a", "input": "How do I reset my password?", "expected": "Use the link."},
    {"id": "b", "input": "Opening hours?", "expected": "Nine to five on weekdays."},
    {"id": "c", "turns": [{"user": "Hi"}, {"user": "Do you ship abroad?"}, {"user": "Cost?"}]},
]


@pytest.mark.parametrize("max_tokens", [None, 40])
def test_plan_cost_equals_the_budgets_estimates(tmp_path: Path, max_tokens: int | None) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    prices = {"acme-1": {"input_per_million": 3.0, "output_per_million": 15.0}}
    runner = {
        "backend": "echo",
        "model": "acme-1",
        "system_prompt": "You are a helpful support agent for a store.",
        "prices": prices,
        "repeat": 2,
    }
    if max_tokens is not None:
        runner["params"] = {"max_tokens": max_tokens}
    config = {
        "name": "plan",
        "workspace": str(tmp_path / "ws"),
        "generator": {"source": str(data)},
        "runner": runner,
        "evaluator": {"metrics": [{"type": "exact_match"}]},
    }
    plan = plan_pipeline(config)
    run = next(s for s in plan.stages if s.stage == "run")
    assert run.calls == (1 + 1 + 3) * 2

    samples = [TestSample.model_validate(r) for r in ROWS]
    table = PriceTable({k: Price.model_validate(v) for k, v in prices.items()})
    # before any answer, the budget assumes max_tokens; without it, the plan assumes the
    # expected answers' size, so give the budget that same size
    per_answer = max_tokens or round(run.completion_tokens / run.calls)
    budget = CostBudget(
        100.0,
        prices=table,
        model="acme-1",
        system_prompt=str(runner["system_prompt"]),
        max_tokens=per_answer,
    )
    expected = 2 * sum(budget.estimate(s) for s in samples)
    assert run.cost_usd == pytest.approx(expected, rel=1e-9)
