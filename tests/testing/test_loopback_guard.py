"""The autouse guard of tests/conftest.py: only loopback connections are allowed in tests."""

from __future__ import annotations

import asyncio
import socket

import pytest


def test_a_non_loopback_connect_raises_before_any_traffic() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(RuntimeError, match="only connect to loopback"):
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: would hang, never reached
        with pytest.raises(RuntimeError, match="loopback"):
            sock.connect_ex(("192.0.2.1", 80))


async def test_asyncio_connections_are_guarded_too() -> None:
    with pytest.raises(RuntimeError, match="loopback"):
        await asyncio.open_connection("192.0.2.1", 80)


async def test_loopback_stays_allowed(fault_server) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", fault_server.port)
    writer.close()
    await writer.wait_closed()
