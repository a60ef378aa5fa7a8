"""Retry decisions, Retry-After and hard timeouts, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

from runner_test_helpers import StatusServer, error_body, openai_config, records, samples

from chatbot_tester.common.schemas import TestSample
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.runner import run_job
from chatbot_tester.testing.server import FaultPlan


async def test_status_matrix_retries_only_retryable(tmp_path: Path) -> None:
    script = {
        "r400": [(400, {}, error_body("bad request: unknown parameter"))],
        "r408": [(408, {}, error_body("timeout"))],
        "r409": [(409, {}, error_body("conflict"))],
        "r500": [(500, {}, error_body("boom")), (503, {}, error_body("boom"))],
        "quota": [(429, {}, error_body("You exceeded your current quota", "insufficient_quota"))],
        "r401": [(401, {}, error_body("Incorrect API key provided", "invalid_api_key"))],
    }
    data = samples(4, "ok") + [TestSample(id=sid, input=f"q {sid}") for sid in script]
    async with StatusServer(script) as srv:
        out = tmp_path / "results.jsonl"
        summary = await run_job(data, openai_config(srv.base_url, retries=3), out)
        attempts = dict(srv.attempts)
    recs = records(out)
    assert summary.status == "completed"
    assert len(recs) == len(data) == summary.completed
    # Not retried: 400, quota-exhausted 429, 401.
    assert attempts["r400"] == 1 and recs[("r400", 0)].error.status_code == 400
    assert attempts["quota"] == 1
    assert recs[("quota", 0)].error.kind is ErrorKind.QUOTA_EXHAUSTED
    assert attempts["r401"] == 1 and recs[("r401", 0)].error.kind is ErrorKind.AUTH
    # Retried until good: 408, 409, 500/503.
    for sid, n in (("r408", 2), ("r409", 2), ("r500", 3)):
        assert attempts[sid] == n, sid
        assert recs[(sid, 0)].ok and recs[(sid, 0)].attempts == n
    assert summary.errors == 3 and summary.ok == len(data) - 3
    assert summary.errors_by_kind == {"http": 1, "quota_exhausted": 1, "auth": 1}


async def test_retry_after_three_forms_are_honoured(tmp_path: Path) -> None:
    limited = error_body("Rate limit reached")
    script = {
        "secs": [(429, {"Retry-After": "1"}, limited)],
        "ms": [(429, {"retry-after-ms": "600"}, limited)],
        "date": [(429, {"Retry-After": formatdate(time.time() + 2, usegmt=True)}, limited)],
    }
    data = [TestSample(id=sid, input="hi") for sid in script]
    async with StatusServer(script) as srv:
        out = tmp_path / "results.jsonl"
        summary = await run_job(data, openai_config(srv.base_url), out)
        gaps = {sid: t[1] - t[0] for sid, t in srv.times.items()}
    assert summary.ok == 3
    # Backoff alone is capped at 0.05 s here: longer gaps can only come from Retry-After.
    assert gaps["secs"] >= 0.9
    assert gaps["ms"] >= 0.5
    assert gaps["date"] >= 0.9


async def test_absurd_retry_after_is_an_error_not_a_sleep(tmp_path: Path) -> None:
    script = {"slow": [(429, {"Retry-After": "3600"}, error_body("Rate limit reached"))]}
    async with StatusServer(script) as srv:
        out = tmp_path / "results.jsonl"
        cfg = openai_config(srv.base_url, backoff={"max_retry_after_s": 30})
        summary = await run_job([TestSample(id="slow", input="hi")], cfg, out)
        assert srv.attempts["slow"] == 1
    rec = records(out)[("slow", 0)]
    assert summary.errors == 1
    assert rec.error.kind is ErrorKind.RATE_LIMITED
    assert "3600" in rec.error.message and "max_retry_after_s" in rec.error.message


async def test_fault_server_retry_after_modes_recover(tmp_path: Path, fault_server_factory) -> None:
    plan = FaultPlan(fail_first=1, modes=("429", "429_date", "429_ms"), retry_after_s=0.2)
    srv = await fault_server_factory(plan)
    out = tmp_path / "results.jsonl"
    summary = await run_job(samples(12), openai_config(srv.base_url), out)
    stats = srv.stats
    assert summary.ok == 12
    assert all(stats.attempts[f"s{i}"] == 2 for i in range(12))
    assert sum(stats.faults.values()) == 12


async def test_hang_drip_and_keepalive_end_in_timeout_records(
    tmp_path: Path, fault_server_factory
) -> None:
    for mode, stream in (("hang", False), ("drip", False), ("keepalive", True)):
        srv = await fault_server_factory(
            FaultPlan(rate=1.0, modes=(mode,)), trickle_interval_s=0.05
        )
        out = tmp_path / f"{mode}.jsonl"
        cfg = openai_config(srv.base_url, timeout_s=0.5, retries=1, stream=stream)
        summary = await run_job(samples(2), cfg, out)
        recs = records(out)
        assert summary.errors == 2, mode
        for rec in recs.values():
            assert rec.error is not None and rec.error.kind is ErrorKind.TIMEOUT, (mode, rec.error)
            assert rec.attempts == 2
        assert srv.stats.attempts == {"s0": 2, "s1": 2}


async def test_sample_deadline_caps_retries(tmp_path: Path, fault_server_factory) -> None:
    srv = await fault_server_factory(FaultPlan(rate=1.0, modes=("hang",)))
    out = tmp_path / "results.jsonl"
    cfg = openai_config(srv.base_url, timeout_s=0.3, retries=10, sample_timeout_s=0.8)
    summary = await run_job(samples(1), cfg, out)
    rec = records(out)[("s0", 0)]
    assert summary.errors == 1
    assert rec.error.kind is ErrorKind.TIMEOUT
    # 0.8 s of deadline fits at most 3 attempts of 0.3 s, far fewer than 11.
    assert 2 <= rec.attempts <= 3
    assert srv.stats.attempts["s0"] == rec.attempts
