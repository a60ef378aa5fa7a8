"""Under 20% injected faults every sample is recorded exactly once, within the concurrency limit."""

from __future__ import annotations

from pathlib import Path

from runner_test_helpers import keys, openai_config, records, samples, write_dataset

from chatbot_tester.common.events import EventBus, ItemFinished, RetryScheduled
from chatbot_tester.runner import run_job
from chatbot_tester.testing.server import FaultPlan

MODES = ("429", "500", "503", "reset", "truncated_json", "error_body", "html", "hang", "drip")


def expected_attempts(plan: FaultPlan, sid: str, max_attempts: int) -> int:
    for attempt in range(1, max_attempts + 1):
        if plan.choose(sid, attempt) is None:
            return attempt
    return max_attempts


async def test_twenty_percent_faults_exactly_once(tmp_path: Path, fault_server_factory) -> None:
    plan = FaultPlan(rate=0.2, modes=MODES, seed=7, retry_after_s=0.01)
    srv = await fault_server_factory(plan, trickle_interval_s=0.05)
    n, concurrency, retries = 200, 8, 4
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(n))
    out = tmp_path / "results.jsonl"
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    cfg = openai_config(srv.base_url, concurrency=concurrency, retries=retries, timeout_s=0.3)
    summary = await run_job(dataset, cfg, out, bus=bus)
    stats = srv.stats

    written = keys(out)
    assert len(written) == len(set(written)) == n  # exactly once
    assert summary.total == n and summary.completed == n
    recs = records(out)
    for i in range(n):
        sid = f"s{i}"
        rec = recs[(sid, 0)]
        want = expected_attempts(plan, sid, retries + 1)
        # The server saw exactly the attempts the record claims, and no more than needed.
        assert stats.attempts[sid] == rec.attempts == want, sid
        if rec.error is not None:
            # Only samples whose retries ran out end in an error.
            assert rec.attempts == retries + 1
            assert all(plan.choose(sid, k) for k in range(1, retries + 2))
        else:
            assert rec.response.text == f"echo: question {i}"
    assert stats.total_faults > 0.1 * n
    assert stats.max_in_flight <= concurrency
    finished = [e for e in events if isinstance(e, ItemFinished)]
    assert len(finished) == n
    retried = [e for e in events if isinstance(e, RetryScheduled)]
    assert len(retried) == sum(r.attempts - 1 for r in recs.values())
    assert all(0 <= e.delay_s <= 0.05 + 0.01 * 1.1 + 1e-9 for e in retried)


async def test_concurrency_bound_holds_with_retries_and_latency(
    tmp_path: Path, fault_server_factory
) -> None:
    plan = FaultPlan(rate=0.5, modes=("500", "429"), seed=3, retry_after_s=0.01)
    srv = await fault_server_factory(plan, latency_ms=20)
    out = tmp_path / "results.jsonl"
    cfg = openai_config(srv.base_url, concurrency=5, retries=6)
    summary = await run_job(samples(60), cfg, out)
    stats = srv.stats
    assert summary.completed == 60
    assert stats.max_in_flight <= 5
    assert stats.max_in_flight >= 3  # the limit is actually used
    assert stats.requests == sum(r.attempts for r in records(out).values())
