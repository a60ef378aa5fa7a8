"""Streams on the wire: a stream cut short is an error, a complete one frees its connection.

Real HTTP against the loopback fault server, which counts the TCP connections that carried
model requests (``stats.connections``).
"""

from __future__ import annotations

import asyncio

import pytest

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError
from chatbot_tester.testing.server import FaultPlan

KEY = "sk-test-STREAMKEY-0123456789abcdefXYZ"
BACKENDS = [
    ("openai", "aiohttp-direct"),
    ("openai", "aiohttp"),
    ("openai", "httpx"),
    ("anthropic", None),
]


def req(text: str = "one two three four five six") -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="test-model")


@pytest.fixture(params=BACKENDS, ids=lambda p: "-".join(x for x in p if x))
async def make_backend(request):
    name, transport = request.param
    made = []

    def make(srv, **options):
        options.setdefault("api_key", KEY)
        if transport is not None:
            options.setdefault("transport", transport)
        base = srv.base_url if name == "openai" else srv.url
        backend = backend_registry.create(name, base_url=base, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


async def collect(backend, request):
    items = [item async for item in backend.stream(request)]
    assert all(isinstance(i, TextDelta) for i in items[:-1])
    assert isinstance(items[-1], ChatResponse)
    return items[-1]


@pytest.mark.parametrize("mode", ["stream_cut", "stream_reset"])
async def test_a_stream_cut_short_is_a_retryable_error_not_an_answer(
    fault_server_factory, make_backend, mode
):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=(mode,)))
    backend = make_backend(srv)
    with pytest.raises(BackendError) as info:
        await collect(backend, req())
    ec = backend.classify(info.value)
    assert ec.decision == "retry"
    if mode == "stream_cut":  # the body ended cleanly, but without the terminator
        assert ec.kind is ErrorKind.TRUNCATED_STREAM
    else:
        assert ec.kind in (ErrorKind.TRUNCATED_STREAM, ErrorKind.CONNECTION)
    assert srv.stats.faults == {mode: 1}
    final = await collect(backend, req())  # the retry gets the whole answer
    assert final.text == "echo: one two three four five six"


async def test_complete_streams_reuse_keepalive_connections(fault_server_factory, make_backend):
    srv = await fault_server_factory(chunk_delay_ms=1)
    backend = make_backend(srv)
    slots = asyncio.Semaphore(4)

    async def one(i: int) -> str:
        async with slots:
            return (await collect(backend, req(f"question {i}"))).text

    texts = await asyncio.gather(*(one(i) for i in range(50)))
    assert texts == [f"echo: question {i}" for i in range(50)]
    stats = srv.stats
    assert stats.requests == 50
    assert stats.connections <= 8, f"{stats.connections} connections for 50 streamed calls"
