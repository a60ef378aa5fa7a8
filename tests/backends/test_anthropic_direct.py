"""The anthropic backend's ``aiohttp-direct`` transport, against real loopback servers.

The shared behaviour (answers, usage, tools, streams, every fault's classification) runs on
both transports in ``test_anthropic_backend.py``; these are the direct path's own cases.
"""

from __future__ import annotations

import time

import pytest
from aiohttp import web

from chatbot_tester.common.backends import anthropic_direct, backend_registry
from chatbot_tester.common.backends.direct_http import SDKInternalsChanged
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError
from chatbot_tester.testing.server import FaultPlan

KEY = "sk-ant-SECRETKEY-0123456789abcdefXYZ"


def req(text: str = "hello world", **extra) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="claude-t", **extra)


def direct(url: str, **options):
    options.setdefault("api_key", KEY)
    return backend_registry.create("anthropic", base_url=url, transport="aiohttp-direct", **options)


async def test_sdk_headers_and_the_sample_id_travel_on_the_direct_path(fault_server_factory):
    srv = await fault_server_factory(api_key=KEY)
    backend = direct(srv.url, headers={"anthropic-beta": "b1"}, sample_id_header="X-Sample-Id")
    try:
        assert (await backend.send(req(sample_id="s7"))).text == "echo: hello world"
    finally:
        await backend.aclose()
    headers = srv.last_headers
    assert headers.get("x-api-key") == KEY or headers.get("Authorization") == f"Bearer {KEY}"
    assert headers["anthropic-version"] and headers["anthropic-beta"] == "b1"
    assert headers["X-Sample-Id"] == "s7" and "AsyncAnthropic" in headers["User-Agent"]
    assert "x-stainless-read-timeout" not in {k.lower() for k in headers}


async def test_stream_deltas_arrive_before_the_end(fault_server_factory):
    srv = await fault_server_factory(chunk_delay_ms=40, api_key=KEY)
    backend = direct(srv.url)
    first = end = 0.0
    try:
        t0 = time.perf_counter()
        async for item in backend.stream(req("a b c d")):
            if isinstance(item, TextDelta) and not first:
                first = time.perf_counter() - t0
            elif isinstance(item, ChatResponse):
                end = time.perf_counter() - t0
                assert item.text == "echo: a b c d" and item.usage is not None
    finally:
        await backend.aclose()
    assert 0 < first < end - 0.08  # deltas are yielded as they arrive, not at the end


async def test_a_500_is_retried_by_the_client_with_ttft(fault_server_factory):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=("500",)), api_key=KEY)
    backend = direct(srv.url)
    try:
        policy = CallPolicy(timeout_s=5, retries=1, stream=True)
        out = await BackendClient(backend, policy).call(req(sample_id="r1"))
    finally:
        await backend.aclose()
    assert out.ok and out.attempts == 2 and out.ttft_ms is not None
    assert out.response is not None and out.response.text == "echo: hello world"


async def test_redirects_are_not_followed(unused_tcp_port):
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(status=307, headers={"Location": "http://127.0.0.1:9/elsewhere"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    backend = direct(f"http://127.0.0.1:{unused_tcp_port}")
    try:
        with pytest.raises(BackendError) as info:
            await backend.send(req())
    finally:
        await backend.aclose()
        await runner.cleanup()
    assert seen == ["/v1/messages"]
    ec = backend.classify(info.value)
    assert (ec.decision, ec.kind, ec.status_code) == ("fatal", ErrorKind.HTTP, 307)
    assert "redirect to" in ec.message and KEY not in ec.message


async def test_an_sdk_without_the_request_hooks_falls_back_to_the_sdk(
    fault_server_factory, monkeypatch, caplog
):
    async def broken(client):
        raise SDKInternalsChanged("AttributeError: _build_request")

    monkeypatch.setattr(anthropic_direct, "anthropic_route", broken)
    srv = await fault_server_factory(api_key=KEY)
    backend = direct(srv.url)
    try:
        assert backend.transport == "aiohttp-direct"
        assert (await backend.send(req())).text == "echo: hello world"
        assert backend.transport == "aiohttp"
        assert "cannot configure direct" in caplog.text
    finally:
        await backend.aclose()


async def test_the_default_stays_on_the_sdk(fault_server_factory):
    srv = await fault_server_factory(api_key=KEY)
    backend = backend_registry.create("anthropic", base_url=srv.url, api_key=KEY)
    try:
        assert backend.transport == "aiohttp"
    finally:
        await backend.aclose()
