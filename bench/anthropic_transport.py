"""Does the ``anthropic`` backend need a direct transport? The SDK path vs the raw floor.

Sends N requests at concurrency C against the loopback test server (its own process), in
interleaved rounds, each variant in a fresh child process:

- ``anthropic``: the project's ``anthropic`` backend (``backend.send``, every call through
  the SDK, ``transport: aiohttp``) on ``POST /v1/messages``;
- ``raw``: a minimal raw aiohttp loop posting the same ``/v1/messages`` bodies (the floor);
- ``openai``: the ``openai`` backend's direct path (``transport: aiohttp-direct``) on
  ``POST /v1/chat/completions``, for reference;
- ``anthropic-direct``: the ``anthropic`` backend with ``transport: aiohttp-direct``.

Prints req/s and client CPU ms/req (medians over the rounds) and the ratios to the floor.

Usage: python bench/anthropic_transport.py [--n 2000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, cpu_seconds, run_child

VARIANTS = ("anthropic", "raw", "openai", "anthropic-direct")
KEY = "bench-key"


def _anthropic_body(i: int) -> dict[str, Any]:
    return {
        "model": "bench",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": f"question {i}"}],
    }


async def _raw(url: str, n: int, concurrency: int) -> tuple[int, float, float]:
    import aiohttp

    ok = 0
    todo = iter(range(n))
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal ok
            for i in todo:
                async with session.post(url + "/v1/messages", json=_anthropic_body(i)) as resp:
                    data = await resp.json()
                ok += bool(data["content"][0]["text"])

        t0, c0 = time.perf_counter(), cpu_seconds()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok, time.perf_counter() - t0, cpu_seconds() - c0


async def _backend(variant: str, url: str, n: int, concurrency: int) -> tuple[int, float, float]:
    from chatbot_tester.common.backends import backend_registry
    from chatbot_tester.common.schemas import ChatRequest, Message

    if variant.startswith("anthropic"):
        transport = "aiohttp-direct" if variant == "anthropic-direct" else "aiohttp"
        backend = backend_registry.create(
            "anthropic", base_url=url, api_key=KEY, transport=transport
        )
    else:
        backend = backend_registry.create(
            "openai", base_url=url + "/v1", api_key=KEY, transport="aiohttp-direct"
        )
    requests = [
        ChatRequest(messages=[Message(role="user", content=f"question {i}")], model="bench")
        for i in range(n)
    ]
    ok = 0
    todo = iter(requests)

    async def worker() -> None:
        nonlocal ok
        for request in todo:
            response = await backend.send(request)
            ok += bool(response.text)

    try:
        await backend.send(requests[0])  # client set up and first connection opened
        t0, c0 = time.perf_counter(), cpu_seconds()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok, time.perf_counter() - t0, cpu_seconds() - c0
    finally:
        await backend.aclose()


def _child(args: argparse.Namespace) -> None:
    if args.child == "raw":
        ok, wall, cpu = asyncio.run(_raw(args.url, args.n, args.concurrency))
    else:
        ok, wall, cpu = asyncio.run(_backend(args.child, args.url, args.n, args.concurrency))
    if ok != args.n:
        raise SystemExit(f"{args.child}: {ok} of {args.n} requests answered")
    print(json.dumps({"wall_s": wall, "cpu_s": cpu}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    n, c = args.n, args.concurrency
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    with Server() as server:
        child_args = ["--url", server.url, "--n", str(n), "--concurrency", str(c)]
        for _ in range(args.rounds):
            for variant in VARIANTS:  # interleaved: a, b, c, a, b, c, ...
                result = run_child("anthropic_transport.py", ["--child", variant, *child_args])
                runs[variant].append(result)
    rps = {v: statistics.median(n / r["wall_s"] for r in runs[v]) for v in VARIANTS}
    cpu = {v: statistics.median(1000 * r["cpu_s"] / n for r in runs[v]) for v in VARIANTS}
    print(f"anthropic_transport: N={n}, concurrency {c}, {args.rounds} interleaved rounds, medians")
    print(f"{'variant':<30} {'req/s':>8} {'CPU ms/req':>11} {'thr / raw':>10} {'CPU / raw':>10}")
    labels = {
        "anthropic": "(a) anthropic backend (SDK)",
        "raw": "(b) raw aiohttp /v1/messages",
        "openai": "(c) openai aiohttp-direct",
        "anthropic-direct": "(d) anthropic aiohttp-direct",
    }
    for v in VARIANTS:
        print(
            f"{labels[v]:<30} {rps[v]:>8,.0f} {cpu[v]:>11.3f} "
            f"{rps[v] / rps['raw']:>9.2f}x {cpu[v] / cpu['raw']:>9.2f}x"
        )
    print(
        f"a/b: throughput {rps['anthropic'] / rps['raw']:.2f}, CPU {cpu['anthropic'] / cpu['raw']:.2f}"
        f"; c/b: throughput {rps['openai'] / rps['raw']:.2f}, CPU {cpu['openai'] / cpu['raw']:.2f}"
    )
    d = "anthropic-direct"
    print(f"d/b: throughput {rps[d] / rps['raw']:.2f}, CPU {cpu[d] / cpu['raw']:.2f}")


if __name__ == "__main__":
    main()
