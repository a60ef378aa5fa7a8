"""Multi-turn conversations, repeats, streaming, cache, fail-fast, budget and cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runner_test_helpers import API_KEY, keys, openai_config, records, samples

from chatbot_tester.common.artifacts.cache import ResponseCache
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.common.schemas import TestSample, Turn
from chatbot_tester.errors import ConfigError
from chatbot_tester.runner import run_job
from chatbot_tester.testing.server import FaultPlan

PRICES = {"test-model": {"input_per_million": 1000.0, "output_per_million": 2000.0}}


def transcript(messages: list[dict[str, Any]]) -> str:
    return " | ".join(f"{m['role']}:{m['content']}" for m in messages)


async def test_multi_turn_sends_history_and_system_prompt(
    tmp_path: Path, fault_server_factory
) -> None:
    srv = await fault_server_factory(responder=transcript)
    sample = TestSample(id="conv", turns=[Turn(user="hi"), Turn(user="and?"), Turn(user="bye")])
    out = tmp_path / "results.jsonl"
    cfg = openai_config(srv.base_url, system_prompt="be brief")
    summary = await run_job([sample], cfg, out)
    rec = records(out)[("conv", 0)]
    assert summary.ok == 1 and rec.turns is not None and len(rec.turns) == 3
    texts = [t.response.text for t in rec.turns]
    assert texts[0] == "system:be brief | user:hi"
    assert texts[1] == f"system:be brief | user:hi | assistant:{texts[0]} | user:and?"
    assert texts[2] == (
        f"system:be brief | user:hi | assistant:{texts[0]} | user:and? "
        f"| assistant:{texts[1]} | user:bye"
    )
    assert rec.response.text == texts[2]
    assert rec.attempts == 3
    assert rec.usage is not None and rec.usage.prompt_tokens is not None
    assert rec.latency_ms == pytest.approx(sum(t.latency_ms for t in rec.turns))


async def test_multi_turn_carries_session_id(tmp_path: Path, fault_server) -> None:
    cfg = RunnerConfig.model_validate(
        {
            "backend": "http",
            "options": {
                "url": fault_server.url + "/chat",
                "body_template": '{"message": {{ prompt | tojson }}, '
                '"session_id": {{ session_id | tojson }}}',
                "response_path": "reply",
                "session_id_path": "session_id",
                "usage_path": None,
                "tool_calls_path": None,
                "finish_reason_path": None,
            },
        }
    )
    convs = [
        TestSample(id=f"c{i}", turns=[Turn(user="one"), Turn(user="two"), Turn(user="three")])
        for i in range(3)
    ]
    out = tmp_path / "results.jsonl"
    summary = await run_job(convs, cfg, out)
    assert summary.ok == 3
    sessions = set()
    for rec in records(out).values():
        replies = [t.response.text for t in rec.turns]
        # The server numbers turns per session: 1, 2, 3 only if the id was carried.
        assert replies == ["echo: one (turn 1)", "echo: two (turn 2)", "echo: three (turn 3)"]
        ids = {t.response.session_id for t in rec.turns}
        assert len(ids) == 1
        sessions |= ids
    assert len(sessions) == 3  # one conversation per sample (and per repeat)


def explode_on_request(messages: list[dict[str, Any]]) -> str:
    if "explode" in messages[-1]["content"]:
        raise RuntimeError("the bot crashed")
    return "fine"


async def test_failed_turn_ends_the_sample_with_an_error(
    tmp_path: Path, fault_server_factory
) -> None:
    srv = await fault_server_factory(responder=explode_on_request)
    sample = TestSample(id="t", turns=[Turn(user="hello"), Turn(user="explode"), Turn(user="x")])
    out = tmp_path / "results.jsonl"
    summary = await run_job([sample], openai_config(srv.base_url, retries=1), out)
    rec = records(out)[("t", 0)]
    assert summary.status == "completed" and summary.errors_by_kind == {"http": 1}
    assert rec.response is None and rec.error is not None
    assert rec.error.message.startswith("turn 2: ") and rec.error.status_code == 500
    assert [t.index for t in rec.turns] == [0, 1]
    assert rec.turns[0].response.text == "fine" and rec.turns[1].error is not None
    assert rec.attempts == 3 == srv.stats.requests


async def test_repeats_and_cache(tmp_path: Path, fault_server_factory) -> None:
    srv = await fault_server_factory(
        FaultPlan(always_fail_ids=frozenset({"s0"}), modes=("error_body",))
    )
    cache = ResponseCache(tmp_path / "cache.sqlite")
    cfg = openai_config(srv.base_url, repeat=3, retries=0, cache=True)
    out = tmp_path / "r1.jsonl"
    summary = await run_job(samples(4), cfg, out, cache=cache)
    assert sorted(keys(out)) == sorted((f"s{i}", r) for i in range(4) for r in range(3))
    assert summary.total == 12 and summary.errors == 3  # s0 answers with an error body
    assert srv.stats.attempts == {f"s{i}": 3 for i in range(4)}
    # Second run: good answers come from the cache (each repeat its own entry); errors are
    # never cached, so s0 is sent again.
    out2 = tmp_path / "r2.jsonl"
    summary2 = await run_job(samples(4), cfg, out2, cache=cache)
    cache.close()
    recs = records(out2)
    assert srv.stats.attempts == {"s0": 6, "s1": 3, "s2": 3, "s3": 3}
    assert all(recs[(f"s{i}", r)].cached for i in range(1, 4) for r in range(3))
    assert not any(recs[("s0", r)].cached for r in range(3))
    assert recs[("s1", 0)].attempts == 0
    assert summary2.ok == 9


async def test_streaming_records_ttft(tmp_path: Path, fault_server_factory) -> None:
    srv = await fault_server_factory(chunk_delay_ms=10)
    out = tmp_path / "results.jsonl"
    summary = await run_job(samples(3), openai_config(srv.base_url, stream=True), out)
    assert summary.ok == 3
    for rec in records(out).values():
        assert rec.ttft_ms is not None and rec.latency_ms is not None
        assert 0 < rec.ttft_ms < rec.latency_ms
        assert rec.response.text.startswith("echo: question")
    # Without streaming there is no TTFT.
    out2 = tmp_path / "plain.jsonl"
    await run_job(samples(1), openai_config(srv.base_url), out2)
    assert records(out2)[("s0", 0)].ttft_ms is None


async def test_fail_fast_on_bad_key(tmp_path: Path, fault_server_factory) -> None:
    srv = await fault_server_factory(api_key="the-right-key-123")
    out = tmp_path / "results.jsonl"
    cfg = openai_config(srv.base_url, concurrency=4)
    summary = await run_job(samples(300), cfg, out)
    assert summary.status == "aborted"
    assert summary.message is not None
    assert summary.message.startswith("every first request failed with 401 auth:")
    assert "api_key" in summary.message and API_KEY not in summary.message
    assert srv.stats.requests < 30  # far fewer than 300
    # The auth failures are not recorded: a resume after fixing the key sends them.
    assert not out.exists() or keys(out) == []
    srv.api_key = API_KEY
    summary = await run_job(samples(300), cfg, out, resume=True)
    assert summary.status == "completed" and summary.ok == 300


async def test_one_bad_sample_does_not_abort(tmp_path: Path, fault_server_factory) -> None:
    srv = await fault_server_factory(
        FaultPlan(always_fail_ids=frozenset({"s3"}), modes=("429_quota",))
    )
    out = tmp_path / "results.jsonl"
    summary = await run_job(samples(20), openai_config(srv.base_url), out)
    assert summary.status == "completed"
    assert summary.errors_by_kind == {"quota_exhausted": 1}
    assert len(keys(out)) == 20


async def test_budget_stop_is_resumable(tmp_path: Path, fault_server) -> None:
    out = tmp_path / "results.jsonl"
    # ~$0.02 a sample; max_tokens sets the completion guess before the first answer.
    cfg = openai_config(
        fault_server.base_url,
        concurrency=2,
        prices=PRICES,
        max_cost_usd=0.3,
        params={"max_tokens": 10},
    )
    summary = await run_job(samples(50), cfg, out)
    assert summary.status == "budget_exhausted"
    assert summary.message and "budget" in summary.message
    done = keys(out)
    assert 0 < len(done) < 50 and len(done) == len(set(done))
    assert summary.cost_usd is not None and summary.cost_usd <= 0.3
    more = cfg.model_copy(update={"max_cost_usd": 100.0})
    summary = await run_job(samples(50), more, out, resume=True)
    assert summary.status == "completed"
    final = keys(out)
    assert len(final) == len(set(final)) == 50


async def test_cost_known_and_unknown(tmp_path: Path, fault_server) -> None:
    out = tmp_path / "priced.jsonl"
    summary = await run_job(samples(2), openai_config(fault_server.base_url, prices=PRICES), out)
    for rec in records(out).values():
        usage = rec.usage
        want = (usage.prompt_tokens * 1000.0 + usage.completion_tokens * 2000.0) / 1e6
        assert rec.cost_usd == pytest.approx(want)
    assert summary.cost_usd == pytest.approx(sum(r.cost_usd for r in records(out).values()))
    out2 = tmp_path / "unpriced.jsonl"
    cfg = openai_config(fault_server.base_url, model="no-such-model-anywhere")
    summary = await run_job(samples(2), cfg, out2)
    assert summary.cost_usd is None
    assert all(r.cost_usd is None for r in records(out2).values())
    with pytest.raises(ConfigError, match=r"runner\.prices"):
        await run_job(
            samples(2), cfg.model_copy(update={"max_cost_usd": 1.0}), tmp_path / "x.jsonl"
        )
