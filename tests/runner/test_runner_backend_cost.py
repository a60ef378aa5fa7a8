"""A backend's own cost (LiteLLM's), local backends (cost 0, ``local: true``) and ``start()``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest
from runner_test_helpers import records, samples

from chatbot_tester.common.backends.base import BackendOptions, ChatBackend
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Usage
from chatbot_tester.runner import run_job


class PricedBackend(ChatBackend):
    """Answers with a cost of its own, like LiteLLM; ``start`` takes a while, like a model load."""

    starts: ClassVar[int] = 0

    async def start(self) -> None:
        type(self).starts += 1
        await asyncio.sleep(0.4)

    async def send(self, request: ChatRequest) -> ChatResponse:
        usage = Usage(prompt_tokens=1000, completion_tokens=1000)
        return ChatResponse(text="ok", usage=usage, cost_usd=0.25)


class LocalBackend(PricedBackend):
    local = True


def _config(**kw: object) -> RunnerConfig:
    return RunnerConfig.model_validate({"backend": "x", "concurrency": 4, **kw})


async def test_backend_cost_is_used_unless_runner_prices_price_the_model(tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    await run_job(
        samples(3), _config(model="gpt-4o-mini"), out, backend=PricedBackend(BackendOptions())
    )
    assert {r.cost_usd for r in records(out).values()} == {0.25}  # over the built-in table
    prices = {"gpt-4o-mini": {"input_per_million": 1.0, "output_per_million": 3.0}}
    out2 = tmp_path / "b.jsonl"
    await run_job(
        samples(3),
        _config(model="gpt-4o-mini", prices=prices),
        out2,
        backend=PricedBackend(BackendOptions()),
    )
    assert [r.cost_usd for r in records(out2).values()] == [pytest.approx(0.004)] * 3
    assert not any(r.local for r in records(out2).values())


async def test_local_backend_costs_nothing_and_needs_no_price_for_a_budget(tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    cfg = _config(model="my-local-model", max_cost_usd=0.01)
    summary = await run_job(samples(4), cfg, out, backend=LocalBackend(BackendOptions()))
    recs = records(out).values()
    assert summary.ok == 4
    assert {(r.cost_usd, r.local) for r in recs} == {(0.0, True)}


async def test_start_runs_once_before_any_call_is_timed(tmp_path: Path) -> None:
    PricedBackend.starts = 0
    out = tmp_path / "d.jsonl"
    await run_job(samples(8), _config(), out, backend=PricedBackend(BackendOptions()))
    assert PricedBackend.starts == 1
    latencies = [r.latency_ms for r in records(out).values()]
    assert all(lat is not None and lat < 300 for lat in latencies)  # the 400 ms start is not in


class BrokenLocalBackend(LocalBackend):
    async def send(self, request: ChatRequest) -> ChatResponse:
        raise RuntimeError("the model crashed")


async def test_a_failed_local_call_is_still_recorded_local(tmp_path: Path) -> None:
    out = tmp_path / "e.jsonl"
    await run_job(samples(1), _config(retries=0), out, backend=BrokenLocalBackend(BackendOptions()))
    (rec,) = records(out).values()
    assert rec.error is not None and rec.local is True and rec.cost_usd is None
