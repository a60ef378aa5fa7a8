"""Shared fixtures: the fault-injecting loopback server (real HTTP on 127.0.0.1).

- ``fault_server``: a started ``FaultServer`` with default settings (echo answers, no faults).
- ``fault_server_factory``: ``await fault_server_factory(FaultPlan(...), latency_ms=...)``
  starts servers with custom plans; all are stopped after the test.
- ``fault_server_thread``: a server on its own thread, for sync tests (CLI runs, sync clients).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from chatbot_tester.testing.server import FaultPlan, FaultServer

FaultServerFactory = Callable[..., Awaitable[FaultServer]]


@pytest.fixture
async def fault_server() -> AsyncIterator[FaultServer]:
    async with FaultServer() as server:
        yield server


@pytest.fixture
async def fault_server_factory() -> AsyncIterator[FaultServerFactory]:
    started: list[FaultServer] = []

    async def make(plan: FaultPlan | None = None, **options: Any) -> FaultServer:
        server = FaultServer(plan, **options)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
def fault_server_thread() -> Iterator[FaultServer]:
    with FaultServer().run_in_thread() as server:
        yield server
