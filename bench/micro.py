"""Per-operation cost of the hot-path helpers in ``common/``: limits, cache, cost.

Prints microseconds per operation, to check they stay far below the runner's ~100 us per
sample budget. Usage: python bench/micro.py [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _per_op(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


async def _async_per_op(n: int) -> dict[str, float]:
    from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter

    out: dict[str, float] = {}
    limit = ConcurrencyLimit(32)
    t0 = time.perf_counter()
    for _ in range(n):
        async with limit.slot():
            pass
    out["ConcurrencyLimit.slot (free)"] = (time.perf_counter() - t0) / n * 1e6

    limit = ConcurrencyLimit(4)

    async def worker(k: int) -> None:
        for _ in range(k):
            async with limit.slot():
                await asyncio.sleep(0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n // 32) for _ in range(32)))
    out["ConcurrencyLimit.slot (32 tasks, limit 4, incl. sleep(0))"] = (
        (time.perf_counter() - t0) / (n // 32 * 32) * 1e6
    )
    rate = RateLimiter(1e9, 1e12)
    t0 = time.perf_counter()
    for _ in range(n):
        await rate.acquire(100)
    out["RateLimiter.acquire (no wait)"] = (time.perf_counter() - t0) / n * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n

    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.calls.cost import PriceTable, count_message_tokens, ensure_usage
    from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, Usage

    results = asyncio.run(_async_per_op(n))
    identity = {"backend": "openai", "options": {"base_url": "http://127.0.0.1:1/v1"}}
    request = ChatRequest(
        messages=[
            Message(role="system", content="You are a helpful assistant."),
            Message(role="user", content="What is the capital of France? Answer in one word."),
        ],
        model="gpt-4o-mini",
        params={"temperature": 0},
    )
    answer = ChatResponse(text="Paris", usage=Usage(prompt_tokens=30, completion_tokens=2))
    bare = ChatResponse(text="Paris")
    results["ResponseCache.key"] = _per_op(lambda: ResponseCache.key(identity, request), n)
    with tempfile.TemporaryDirectory() as tmp:
        cache = ResponseCache(Path(tmp) / "c.sqlite")
        keys = [f"{i:064x}" for i in range(n)]
        it = iter(keys)
        results["ResponseCache.put (batched)"] = _per_op(lambda: cache.put(next(it), answer), n)
        cache.flush()
        it = iter(keys)
        results["ResponseCache.get (hit)"] = _per_op(lambda: cache.get(next(it)), n)
        results["ResponseCache.get (miss)"] = _per_op(lambda: cache.get("absent"), n)
        cache.close()
    prices = PriceTable()
    results["PriceTable.cost"] = _per_op(
        lambda: prices.cost("gpt-4o-mini-2024-07-18", answer.usage), n
    )
    results["ensure_usage (API usage)"] = _per_op(lambda: ensure_usage(request, answer, None), n)
    results["ensure_usage (estimated)"] = _per_op(lambda: ensure_usage(request, bare, None), n)
    results["count_message_tokens"] = _per_op(lambda: count_message_tokens(request.messages), n)
    for name, us in results.items():
        print(f"{name:<58} {us:8.2f} us")


if __name__ == "__main__":
    main()
