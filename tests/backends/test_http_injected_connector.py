"""The ``http`` backend takes an injected aiohttp connector, so tests can count connections."""

from __future__ import annotations

import asyncio

import aiohttp

from chatbot_tester.common.backends.http import HTTPBackend, HTTPOptions
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.schemas import ChatRequest, Message


def ask(text: str) -> ChatRequest:
    """A request with a model: the fault server answers 400 without one, as OpenAI does."""
    return ChatRequest(messages=[Message(role="user", content=text)], model="test-model")


async def test_an_injected_connector_carries_every_request(fault_server) -> None:
    made: list[aiohttp.TCPConnector] = []

    def one_connection() -> aiohttp.TCPConnector:
        made.append(aiohttp.TCPConnector(limit=1))  # the default pool would open 4
        return made[-1]

    options = HTTPOptions(url=fault_server.base_url + "/chat/completions")
    backend = HTTPBackend(options, connector_factory=one_connection)
    async with backend:
        client = BackendClient(backend)
        outs = await asyncio.gather(*(client.call(ask(f"q{i}")) for i in range(4)))
    assert all(o.ok for o in outs), [o.error for o in outs]
    assert len(made) == 1  # one session, one pool, built by our factory
    assert fault_server.stats.max_in_flight == 1  # our single connection carried all four
