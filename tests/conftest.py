"""Shared fixtures: the fault-injecting loopback server (real HTTP on 127.0.0.1).

- ``fault_server``: a started ``FaultServer`` with default settings (echo answers, no faults).
- ``fault_server_factory``: ``await fault_server_factory(FaultPlan(...), latency_ms=...)``
  starts servers with custom plans; all are stopped after the test.
- ``fault_server_thread``: a server on its own thread, for sync tests (CLI runs, sync clients).
- ``ray_address`` (module scope): a local Ray head on 127.0.0.1 (2 CPUs, no dashboard) for the
  Ray tests of the module; its GCS address. Their other helpers are in ``ray_helpers``.
- ``loopback_only`` (autouse): a socket connection to anything but 127.0.0.0/8, ::1 or a Unix
  socket raises ``NonLoopbackConnection``, so no test can reach a real service.

Markers (registered in pyproject): ``e2e`` (tests/e2e), ``browser`` (headless Chromium) and
``slow`` are applied here or in the tests; ``make test-fast`` deselects all three.
"""

from __future__ import annotations

import inspect
import ipaddress
import logging
import os
import socket
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


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray head on loopback only (no dashboard); its GCS address."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # node IP 127.0.0.1, not the NIC's
    import ray

    ctx = ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
    )
    address = str(ctx.address_info["gcs_address"])
    assert address.startswith("127.0.0.1:"), address
    yield address
    ray.shutdown()


class NonLoopbackConnection(RuntimeError):
    """A test tried to connect somewhere other than loopback."""


def _is_loopback(family: int, address: Any) -> bool:
    if family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(self.family, address):
            raise NonLoopbackConnection(f"tests may only connect to loopback, not {address!r}")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse socket connections to anything but loopback (asyncio connects through these)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(socket.socket.connect_ex))


@pytest.fixture(autouse=True)
def no_refreshed_prices(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Costs come from the built-in table, whatever `prices refresh` wrote on this machine."""
    monkeypatch.setenv(
        "CHATBOT_TESTER_PRICES", str(tmp_path_factory.getbasetemp() / "no-prices.json")
    )


_BROWSER_CALLS = ("open_page(", "sync_playwright")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests/e2e as ``e2e`` and the tests that drive Chromium as ``browser``."""
    for item in items:
        path = str(getattr(item, "path", ""))
        if "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
        function = getattr(item, "function", None)
        if function is not None:
            try:
                source = inspect.getsource(function)
            except (OSError, TypeError):
                continue
            if any(call in source for call in _BROWSER_CALLS):
                item.add_marker(pytest.mark.browser)
