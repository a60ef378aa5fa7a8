"""The openai backend's ``aiohttp-direct`` transport sends what the SDK would send (real HTTP).

A small capture server on 127.0.0.1 records each request's method, path with query, headers
and body; the same calls made through the SDK (``transport: httpx``) and directly must match.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.backends.openai import OpenAIBackend, OpenAIOptions
from chatbot_tester.common.backends.openai_wire import SSELines
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError
from chatbot_tester.testing.server import FaultPlan

KEY = "sk-fast-SECRETKEY-0123456789abcdef"
TRANSPORT_HEADERS = {"host", "content-length", "accept-encoding", "connection"}

COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


class CaptureServer:
    """Records every request; answers with a completion, or with ``self.reply`` when set."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.reply: web.StreamResponse | None = None
        self.stream_gate: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": orjson.loads(body) if body else None,
            }
        )
        if self.stream_gate is not None:
            return await self._gated_stream(request)
        if self.reply is not None:
            return self.reply
        return web.Response(body=orjson.dumps(COMPLETION), content_type="application/json")

    async def _gated_stream(self, request: web.Request) -> web.StreamResponse:
        """One delta, then wait for the test's go-ahead before the rest of the stream."""
        assert self.stream_gate is not None
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        def event(text: str | None, finish: str | None = None) -> bytes:
            delta = {} if text is None else {"content": text}
            chunk = {"model": "m", "choices": [{"delta": delta, "finish_reason": finish}]}
            return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"

        await resp.write(b": keep-alive\n\n" + event("first"))
        await self.stream_gate.wait()
        await resp.write(event(" second") + event(None, "stop") + b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def __aenter__(self) -> CaptureServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def req(model: str | None = "m", **extra: Any) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content="hi")], model=model, **extra)


CONFIGS = {
    "compatible": lambda url: {
        "base_url": url + "/v1",
        "organization": "org-1",
        "headers": {"X-Team": "qa"},
        "sample_id_header": "X-Sample-Id",
    },
    "azure-deployment": lambda url: {
        "azure_endpoint": url,
        "azure_deployment": "dep-1",
        "api_version": "2024-10-21",
    },
    "azure-endpoint-model-route": lambda url: {"azure_endpoint": url, "api_version": "2024-06-01"},
    "azure-base-url": lambda url: {"base_url": url + "/openai", "api_version": "2024-10-21"},
}


@pytest.mark.parametrize("config", list(CONFIGS))
async def test_direct_calls_match_the_sdk_request(config):
    async with CaptureServer() as srv:
        sent = []
        for transport in ("httpx", "aiohttp-direct"):
            options = CONFIGS[config](srv.url)
            backend = backend_registry.create("openai", api_key=KEY, transport=transport, **options)
            try:
                assert backend.transport == transport
                request = req(params={"temperature": 0.5}, sample_id="s-7")
                assert (await backend.send(request)).text == "ok"
            finally:
                await backend.aclose()
            sent.append(srv.seen[-1])
    via_sdk, direct = sent
    assert direct["method"] == via_sdk["method"] == "POST"
    assert direct["path"] == via_sdk["path"]
    assert direct["body"] == via_sdk["body"]

    def api_headers(seen: dict[str, Any]) -> dict[str, str]:
        return {k: v for k, v in seen["headers"].items() if k not in TRANSPORT_HEADERS}

    assert api_headers(direct) == api_headers(via_sdk)
    headers = direct["headers"]
    if config.startswith("azure"):
        assert "api-version=" in direct["path"] and headers["api-key"] == KEY
        assert "/deployments/" in direct["path"]
    else:
        assert headers["authorization"] == f"Bearer {KEY}" and headers["openai-organization"]
        assert headers["x-team"] == "qa" and headers["x-sample-id"] == "s-7"
        assert direct["path"] == "/v1/chat/completions"
    assert "user-agent" in headers and "x-stainless-lang" in headers


async def test_custom_headers_from_the_environment_reach_the_server(monkeypatch):
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Env-One: 1\nX-Env-Two: two")
    async with CaptureServer() as srv:
        backend = backend_registry.create("openai", base_url=srv.url + "/v1", api_key=KEY)
        try:
            await backend.send(req())
        finally:
            await backend.aclose()
    headers = srv.seen[-1]["headers"]
    assert (headers["x-env-one"], headers["x-env-two"]) == ("1", "two")


async def test_route_is_derived_once_per_model():
    async with CaptureServer() as srv:
        backend = backend_registry.create(
            "openai", azure_endpoint=srv.url, api_version="2024-10-21", api_key=KEY
        )
        try:
            for model in ("a", "b", "a"):
                await backend.send(req(model))
            assert backend._direct is not None and sorted(backend._direct.routes) == ["a", "b"]
        finally:
            await backend.aclose()
    paths = [s["path"].split("?")[0] for s in srv.seen]
    assert paths == [f"/openai/deployments/{m}/chat/completions" for m in ("a", "b", "a")]


class RotatingKeyBackend(OpenAIBackend):
    """A subclass whose SDK client draws a fresh API key per request (a token provider)."""

    keys = iter(f"rotating-key-{i:04d}" for i in range(100))

    def _make_client(self) -> openai.AsyncOpenAI:
        async def provider() -> str:
            return next(self.keys)

        base_url = self.opts.base_url
        return openai.AsyncOpenAI(base_url=base_url, api_key=provider, max_retries=0)


async def test_per_request_auth_stays_on_the_sdk_path():
    async with CaptureServer() as srv:
        backend = RotatingKeyBackend(OpenAIOptions(base_url=srv.url + "/v1", api_key="unused"))
        try:
            assert backend.transport == "aiohttp"
            await backend.send(req())
            await backend.send(req())
        finally:
            await backend.aclose()
    auth = [s["headers"]["authorization"] for s in srv.seen]
    assert auth == ["Bearer rotating-key-0000", "Bearer rotating-key-0001"]


async def test_redirects_are_not_followed():
    async with CaptureServer() as srv:
        srv.reply = web.Response(status=307, headers={"Location": srv.url + "/elsewhere"})
        backend = backend_registry.create("openai", base_url=srv.url + "/v1", api_key=KEY)
        try:
            with pytest.raises(BackendError) as info:
                await backend.send(req())
        finally:
            await backend.aclose()
    assert [s["path"] for s in srv.seen] == ["/v1/chat/completions"]
    ec = backend.classify(info.value)
    assert (ec.decision, ec.kind, ec.status_code) == ("fatal", ErrorKind.HTTP, 307)
    assert "redirect to" in ec.message and "base_url" in ec.message


async def test_stream_yields_each_delta_as_it_arrives():
    async with CaptureServer() as srv:
        srv.stream_gate = asyncio.Event()
        backend = backend_registry.create("openai", base_url=srv.url + "/v1", api_key=KEY)
        items: list[TextDelta | ChatResponse] = []
        try:
            async for item in backend.stream(req()):
                items.append(item)
                srv.stream_gate.set()  # the rest is only sent once the first delta got here
        finally:
            await backend.aclose()
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["first", " second"]
    final = items[-1]
    assert isinstance(final, ChatResponse) and final.text == "first second"
    assert final.finish_reason == "stop"
    assert srv.seen[0]["body"]["stream"] is True


async def test_hang_ends_at_the_attempt_timeout_and_the_retry_succeeds(fault_server_factory):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=("hang",)))
    backend = backend_registry.create("openai", base_url=srv.base_url, api_key=KEY)
    try:
        policy = CallPolicy(timeout_s=0.3, retries=1, stream=True)
        out = await BackendClient(backend, policy).call(req(sample_id="h1"))
    finally:
        await backend.aclose()
    assert out.ok and out.attempts == 2 and out.ttft_ms is not None
    assert out.response is not None and out.response.text == "echo: hi"


def test_sse_lines_split_anywhere_and_skip_non_data_lines():
    stream = b': keep-alive\r\n\r\nevent: x\ndata: {"a": 1}\r\n\r\ndata:{"b":2}\n\ndata: [DONE]'
    for size in (1, 2, 3, 7, len(stream)):
        lines = SSELines()
        payloads: list[bytes] = []
        for i in range(0, len(stream), size):
            payloads += lines.feed(stream[i : i + size])
        payloads += lines.close()
        assert payloads == [b'{"a": 1}', b'{"b":2}', b"[DONE]"]


def test_identity_ignores_the_transport_but_not_the_endpoint():
    def ident(**options):
        return backend_registry.create("openai", api_key=KEY, **options).identity()

    base = {"base_url": "http://127.0.0.1:9/v1"}
    assert ident(**base, transport="httpx", max_connections=4) == ident(**base)
    assert ident(base_url="http://127.0.0.1:8/v1") != ident(**base)


async def test_an_sdk_without_the_request_hooks_is_detected():
    from chatbot_tester.common.backends.openai_direct import SDKInternalsChanged, openai_route

    with pytest.raises(SDKInternalsChanged):
        await openai_route(object(), "m")  # type: ignore[arg-type]
