"""Streaming cost of the ``http`` backend next to the ``openai`` fast path, from one run.

1. Parser: events/s of the spec-following ``SSEParser`` vs the openai backend's byte-level
   ``SSELines`` on the same Chat Completions stream (ratio printed).
2. Calls: N streamed calls at concurrency C against the loopback fault server through
   ``openai`` (aiohttp-direct), the ``ollama`` preset and ``http`` with ``stream: sse``;
   calls/s, ratio to openai, and TCP connections opened (1 per call = no keep-alive reuse).

Usage: python bench/stream_http.py [N] [C]
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.backends.openai_wire import SSELines
from chatbot_tester.common.backends.sse import SSEParser
from chatbot_tester.common.schemas import ChatRequest, Message
from chatbot_tester.testing.server import FaultServer


def parser_bench(events: int = 200_000, chunk: int = 1400) -> None:
    one = {"choices": [{"delta": {"content": "token "}, "finish_reason": None}], "id": "c1"}
    body = b"".join(b"data: " + orjson.dumps(one) + b"\n\n" for _ in range(events))
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    t0 = time.perf_counter()
    lines = SSELines()
    n_fast = sum(len(lines.feed(c)) for c in chunks)
    fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    parser = SSEParser()
    n_spec = sum(len(parser.feed(c)) for c in chunks)
    spec = time.perf_counter() - t0
    assert n_fast == n_spec == events
    print(
        f"parser: SSELines {events / fast:,.0f} events/s, SSEParser {events / spec:,.0f} "
        f"events/s (SSEParser takes {spec / fast:.2f}x the time)"
    )


async def calls_bench(n: int, c: int) -> None:
    results: dict[str, float] = {}
    for label in ("openai", "ollama", "http sse"):
        async with FaultServer(chunk_delay_ms=0) as srv:
            if label == "openai":
                backend = backend_registry.create("openai", base_url=srv.base_url, api_key="sk-b")
            elif label == "ollama":
                backend = backend_registry.create("ollama", base_url=srv.base_url)
            else:
                url = srv.base_url + "/chat/completions"
                backend = backend_registry.create("http", url=url, stream="sse")
            slots = asyncio.Semaphore(c)

            async def one(i: int, backend=backend, slots=slots) -> None:
                async with slots:
                    request = ChatRequest(
                        messages=[Message(role="user", content=f"q {i}")], model="m"
                    )
                    async for _ in backend.stream(request):
                        pass

            try:
                await asyncio.gather(*(one(i) for i in range(50)))  # warm-up
                srv.reset()
                t0 = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(n)))
                elapsed = time.perf_counter() - t0
                connections = srv.stats.connections
            finally:
                await backend.aclose()
        results[label] = n / elapsed
        ratio = results[label] / results["openai"]
        print(
            f"{label:>9}: {n / elapsed:,.0f} streamed calls/s ({ratio:.2f}x openai), "
            f"{connections} connections for {n} calls"
        )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    parser_bench()
    asyncio.run(calls_bench(n, c))


if __name__ == "__main__":
    main()
