"""Connections opened per streamed call (keep-alive reuse) against the loopback fault server.

Prints, per backend/transport, how many TCP connections N streamed calls at concurrency C
opened; 1 connection per call means the pool drops connections after every stream.
Usage: python bench/stream_connections.py [N] [C]
"""

from __future__ import annotations

import asyncio
import sys

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.schemas import ChatRequest, Message
from chatbot_tester.testing.server import FaultServer

BACKENDS = [
    ("openai", "aiohttp-direct"),
    ("openai", "aiohttp"),
    ("openai", "httpx"),
    ("anthropic", None),
]


async def measure(name: str, transport: str | None, n: int, c: int) -> int:
    async with FaultServer(chunk_delay_ms=1) as srv:
        options = {"api_key": "sk-bench-0123456789"}
        if transport:
            options["transport"] = transport
        base = srv.base_url if name == "openai" else srv.url
        backend = backend_registry.create(name, base_url=base, **options)
        slots = asyncio.Semaphore(c)

        async def one(i: int) -> None:
            async with slots:
                request = ChatRequest(messages=[Message(role="user", content=f"q {i}")], model="m")
                async for _ in backend.stream(request):
                    pass

        try:
            await asyncio.gather(*(one(i) for i in range(n)))
        finally:
            await backend.aclose()
        return srv.stats.connections


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    for name, transport in BACKENDS:
        conns = await measure(name, transport, n, c)
        label = f"{name}/{transport}" if transport else name
        print(
            f"{label:24} {n} streamed calls, concurrency {c}: {conns} connections "
            f"({conns / n:.2f} per call)"
        )


if __name__ == "__main__":
    asyncio.run(main())
