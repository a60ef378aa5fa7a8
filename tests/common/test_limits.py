import asyncio
import time

import pytest

from chatbot_tester.common.calls.limits import (
    ConcurrencyLimit,
    RateLimiter,
    rate_limit_identity,
    shared_rate_limiter,
)
from chatbot_tester.common.config import RateLimitConfig


async def _hammer(limit: ConcurrencyLimit, n: int, hold: float = 0.001) -> int:
    peak = 0
    held = 0

    async def one() -> None:
        nonlocal peak, held
        async with limit.slot():
            held += 1
            peak = max(peak, held)
            await asyncio.sleep(hold)
            held -= 1

    await asyncio.gather(*(one() for _ in range(n)))
    return peak


async def test_never_more_than_limit_held() -> None:
    limit = ConcurrencyLimit(5)
    peak = await _hammer(limit, 100)
    assert peak == 5
    assert limit.max_in_flight == 5
    assert limit.in_flight == 0


async def test_waiters_served_in_fifo_order() -> None:
    limit = ConcurrencyLimit(1)
    order: list[int] = []

    async def one(i: int) -> None:
        async with limit.slot():
            order.append(i)
            await asyncio.sleep(0)

    await asyncio.gather(*(one(i) for i in range(20)))
    assert order == list(range(20))


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limit = ConcurrencyLimit(1)
    await limit.acquire()
    waiter = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limit.release()
    assert limit.in_flight == 0
    await asyncio.wait_for(limit.acquire(), 1)
    assert limit.in_flight == 1


async def test_slot_released_on_exception() -> None:
    limit = ConcurrencyLimit(2)
    with pytest.raises(RuntimeError):
        async with limit.slot():
            raise RuntimeError("boom")
    assert limit.in_flight == 0


def test_adaptive_halves_once_per_cooldown_and_not_below_min() -> None:
    limit = ConcurrencyLimit(32, adaptive=True, min_limit=4, cooldown_s=3600)
    for _ in range(10):  # a burst of 429s from one wave counts once
        limit.on_rate_limited()
    assert limit.current == 16
    limit = ConcurrencyLimit(32, adaptive=True, min_limit=4, cooldown_s=0)
    for _ in range(10):
        limit.on_rate_limited()
    assert limit.current == 4


def test_adaptive_recovers_additively_up_to_limit() -> None:
    limit = ConcurrencyLimit(8, adaptive=True, cooldown_s=0)
    limit.on_rate_limited()
    assert limit.current == 4
    for _ in range(3):
        limit.on_success()
    assert limit.current == 4
    limit.on_success()
    assert limit.current == 5
    for _ in range(1000):
        limit.on_success()
    assert limit.current == 8


def test_non_adaptive_ignores_signals() -> None:
    limit = ConcurrencyLimit(8)
    limit.on_rate_limited()
    assert limit.current == 8


async def test_adaptive_decrease_is_enforced_for_new_acquires() -> None:
    limit = ConcurrencyLimit(8, adaptive=True, cooldown_s=0)
    limit.on_rate_limited()
    limit.on_rate_limited()
    assert limit.current == 2
    assert await _hammer(limit, 30) == 2


async def test_rate_limiter_spaces_requests() -> None:
    # 600 rpm = 10/s with a one-second burst: 25 requests need at least ~1.5 s.
    limiter = RateLimiter(600, None)
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(25)))
    assert time.monotonic() - start >= 1.3


async def test_rate_limiter_tokens_and_correction() -> None:
    # 6000 tpm = 100 tokens/s (burst 100): 3 x 100 tokens need at least ~2 s ...
    limiter = RateLimiter(None, 6000)
    start = time.monotonic()
    for _ in range(3):
        await limiter.acquire(100)
    assert time.monotonic() - start >= 1.8
    # ... and under-estimated usage is paid back by the next request.
    limiter = RateLimiter(None, 6000)
    await limiter.acquire(10)
    limiter.record_usage(10, 160)
    start = time.monotonic()
    await limiter.acquire(10)
    assert time.monotonic() - start >= 0.5


def test_rate_limiter_reservations_are_fifo() -> None:
    limiter = RateLimiter(60, None)  # one per second, burst 1
    delays = [limiter.reserve() for _ in range(4)]
    assert delays == sorted(delays)
    assert delays[0] <= 0 < delays[1] < delays[2] < delays[3]


def test_shared_limiter_none_without_limits() -> None:
    assert shared_rate_limiter({"backend": "openai", "options": {}}, RateLimitConfig()) is None


def test_shared_limiter_same_account_shares_and_tightens() -> None:
    runner = {
        "backend": "openai",
        "options": {"base_url": "http://a/v1", "api_key": "sha256:1", "timeout": 5},
    }
    judge = {
        "backend": "openai",
        "options": {"base_url": "http://a/v1", "api_key": "sha256:1", "timeout": 60},
    }
    other = {"backend": "openai", "options": {"base_url": "http://a/v1", "api_key": "sha256:2"}}
    a = shared_rate_limiter(runner, RateLimitConfig(requests_per_minute=1000))
    b = shared_rate_limiter(judge, RateLimitConfig(requests_per_minute=500, tokens_per_minute=9000))
    c = shared_rate_limiter(other, RateLimitConfig(requests_per_minute=1000))
    assert a is not None and a is b
    assert c is not None and c is not a
    assert a.requests_per_minute == 500
    assert a.tokens_per_minute == 9000
    assert rate_limit_identity(runner) == rate_limit_identity(judge)


async def test_adaptive_increase_wakes_waiters() -> None:
    limit = ConcurrencyLimit(2, adaptive=True, cooldown_s=0)
    limit.on_rate_limited()
    assert limit.current == 1
    await limit.acquire()
    waiter = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    limit.on_success()  # 1 success at current=1 -> current=2: the waiter gets the new slot
    await asyncio.wait_for(waiter, 1)
    assert limit.in_flight == 2 and limit.max_in_flight == 2
