"""``common.calls.client.BackendClient``: the per-attempt limit, cache, events and limits of one logical call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from runner_test_helpers import API_KEY

from chatbot_tester.common.artifacts.cache import ResponseCache
from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter
from chatbot_tester.common.calls.policy import CallLimits, CallPolicy
from chatbot_tester.common.calls.timeout import AttemptTimeout, attempt_limit
from chatbot_tester.common.config import BackoffConfig
from chatbot_tester.common.events import EventBus, RetryScheduled
from chatbot_tester.common.schemas import ChatRequest, Message
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.testing.server import FaultPlan

FAST = BackoffConfig(initial_s=0.01, max_s=0.02)


def request(sid: str, text: str = "hello") -> ChatRequest:
    return ChatRequest(
        messages=[Message(role="user", content=text)], model="test-model", sample_id=sid
    )


def openai(base_url: str):
    return backend_registry.create(
        "openai", base_url=base_url, api_key=API_KEY, sample_id_header="X-Sample-Id"
    )


async def test_attempt_limit_fires_and_leaves_no_pending_cancel() -> None:
    with pytest.raises(AttemptTimeout), attempt_limit(0.05):
        await asyncio.sleep(5)
    await asyncio.sleep(0.01)  # the task is not left cancelled
    with attempt_limit(5):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.06)  # a finished limit never fires later
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_outside_cancellation_wins_over_the_limit() -> None:
    async def body() -> None:
        with attempt_limit(0.05):
            await asyncio.sleep(5)

    task = asyncio.create_task(body())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_many_limits_fire_in_deadline_order() -> None:
    fired: list[float] = []

    async def one(seconds: float) -> None:
        try:
            with attempt_limit(seconds):
                await asyncio.sleep(5)
        except AttemptTimeout:
            fired.append(seconds)

    await asyncio.gather(*(one(s) for s in (0.2, 0.05, 0.1, 0.15)))
    assert fired == [0.05, 0.1, 0.15, 0.2]


async def test_cache_hit_skips_the_backend_and_errors_are_not_cached(
    tmp_path: Path, fault_server_factory
) -> None:
    plan = FaultPlan(always_fail_ids=frozenset({"bad"}), modes=("error_body",))
    srv = await fault_server_factory(plan)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    policy = CallPolicy(timeout_s=5, retries=1, backoff=FAST)
    async with openai(srv.base_url) as backend:
        client = BackendClient(backend, policy, cache=cache)
        first = await client.call(request("good"))
        again = await client.call(request("good"))
        salted = await client.call(request("good"), salt=1)
        bad1 = await client.call(request("bad", "other"))
        bad2 = await client.call(request("bad", "other"))
    cache.close()
    assert first.ok and not first.cached and first.attempts == 1
    assert again.cached and again.attempts == 0 and again.response.text == first.response.text
    assert not salted.cached  # a different salt (repeat index) is a different entry
    assert bad1.error.kind is ErrorKind.BAD_RESPONSE and bad2.error.kind is ErrorKind.BAD_RESPONSE
    assert srv.stats.attempts == {"good": 2, "bad": 4}


async def test_retry_events_limits_and_usage(fault_server_factory) -> None:
    srv = await fault_server_factory(FaultPlan(fail_first=2, modes=("503",)))
    bus = EventBus()
    seen: list[RetryScheduled] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, RetryScheduled) else None)
    limit = ConcurrencyLimit(2)
    rate = RateLimiter(requests_per_minute=60_000, tokens_per_minute=None)
    policy = CallPolicy(timeout_s=5, retries=3, backoff=FAST)
    async with openai(srv.base_url) as backend:
        client = BackendClient(backend, policy, CallLimits(limit, rate), None, bus, "judge")
        outs = await asyncio.gather(
            *(client.call(request(f"r{i}", f"q{i}"), f"r{i}") for i in range(6))
        )
    assert all(o.ok and o.attempts == 3 for o in outs)
    assert all(o.usage is not None and o.usage.total_tokens for o in outs)
    assert limit.max_in_flight <= 2 and srv.stats.max_in_flight <= 2
    assert len(seen) == 12 and {e.stage for e in seen} == {"judge"}
    assert sorted(e.attempt for e in seen) == [1] * 6 + [2] * 6
    assert all(e.reason == "http" for e in seen)


async def test_redacted_fatal_error(fault_server_factory) -> None:
    srv = await fault_server_factory(api_key="server-key-9876")
    policy = CallPolicy(timeout_s=5, retries=3, backoff=FAST)
    async with openai(srv.base_url) as backend:
        out = await BackendClient(backend, policy).call(request("x"))
    assert out.fatal and out.fail_fast and out.attempts == 1
    assert out.error.kind is ErrorKind.AUTH and out.error.status_code == 401
    assert API_KEY not in out.error.message


async def test_a_crashing_backend_becomes_recorded_errors(tmp_path: Path) -> None:
    from runner_test_helpers import records, samples

    from chatbot_tester.common.backends import ChatBackend
    from chatbot_tester.common.backends.base import BackendOptions
    from chatbot_tester.common.config import RunnerConfig
    from chatbot_tester.runner import run_job

    class Broken(ChatBackend):
        async def send(self, request: ChatRequest):
            raise ZeroDivisionError("a bug in a plugin")

    backend = Broken(BackendOptions())
    backend.name = "broken"
    out = tmp_path / "results.jsonl"
    cfg = RunnerConfig(backend="broken", retries=2)
    summary = await run_job(samples(8), cfg, out, backend=backend)
    assert summary.status == "completed" and summary.errors_by_kind == {"internal": 8}
    rec = records(out)[("s0", 0)]
    assert rec.attempts == 1 and "ZeroDivisionError" in rec.error.message
