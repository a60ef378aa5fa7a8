"""The http backend's stream modes (sse, ndjson, chunked) against a real loopback aiohttp server.

The server sends the first piece at once and the rest after a pause, so a working stream shows
a time to first token well below the latency; a backend that buffered the body would not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.calls.attempt import run_attempt
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError, BadResponse, ConfigError

PAUSE_S = 0.25


def req(text: str = "hi") -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="m")


def openai_event(text: str | None = None, **extra: object) -> bytes:
    delta = {"content": text} if text is not None else {}
    chunk: dict[str, object] = {"choices": [{"delta": delta, "finish_reason": None}], **extra}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _start(resp: web.StreamResponse, request: web.Request, content_type: str) -> None:
    resp.content_type = content_type
    resp.enable_chunked_encoding()
    await resp.prepare(request)


async def sse(request: web.Request) -> web.StreamResponse:
    """OpenAI-shaped events; a body without ``"stream": true`` shows in the first delta."""
    body = await request.json()
    resp = web.StreamResponse()
    await _start(resp, request, "text/event-stream")
    first = "Hello" if body.get("stream") is True else "(no stream flag)"
    await resp.write(b": keep-alive\n\n" + openai_event(first))
    await asyncio.sleep(PAUSE_S)
    await resp.write(openai_event(", world"))
    usage = {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    final = {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": usage}
    await resp.write(b"data: " + orjson.dumps(final) + b"\n\n")
    if request.query.get("done") != "no":
        await resp.write(b"data: [DONE]\n\n")
    if request.query.get("cut"):
        await resp.write(b'data: {"choices": [{"delta": {"content": "lost')
    return resp


async def sse_plain(request: web.Request) -> web.StreamResponse:
    """Plain-text events: CRLF lines, multi-line data, a comment, an event type, a split CRLF."""
    resp = web.StreamResponse()
    await _start(resp, request, "text/event-stream; charset=utf-8")
    await resp.write(b"\xef\xbb\xbfretry: 3000\r\nid: 1\r\nevent: token\r\ndata: line one\r")
    await resp.write(b"\ndata: line two\r\n\r\n")
    await asyncio.sleep(PAUSE_S)
    await resp.write(
        b": comment\r\nevent: token\r\ndata:  and more\r\n\r\nevent: end\r\ndata: x\r\n\r\n"
    )
    return resp


async def ndjson(request: web.Request) -> web.StreamResponse:
    """Ollama /api/chat style: message.content per line, done: true on the last."""
    resp = web.StreamResponse()
    await _start(resp, request, "application/x-ndjson")
    await resp.write(b'{"message": {"content": "Bon"}, "done": false}\n')
    await asyncio.sleep(PAUSE_S)
    await resp.write(b'{"message": {"content": "jour"}, "done": false}\n{"message": {"con')
    await resp.write(b'tent": "!"}, "done": false}\n')
    if request.query.get("cut"):
        await resp.write(b'{"message": {"content": "x"}, "do')
        return resp
    last = {
        "message": {"content": ""},
        "done": True,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }
    await resp.write(orjson.dumps(last))  # no final newline: still a complete line
    return resp


async def chunked(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await _start(resp, request, "text/plain; charset=utf-8")
    await resp.write("Grüß ".encode()[:3])  # a multibyte character split across chunks
    await resp.write("Grüß ".encode()[3:])
    await asyncio.sleep(PAUSE_S)
    await resp.write(b"Gott<E")
    await resp.write(b"ND>" if request.query.get("done") != "no" else b"")
    return resp


async def json_reply(request: web.Request) -> web.Response:
    return web.json_response({"choices": [{"message": {"content": "not a stream"}}]})


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/sse", sse)
    app.router.add_post("/sse-plain", sse_plain)
    app.router.add_post("/ndjson", ndjson)
    app.router.add_post("/chunked", chunked)
    app.router.add_post("/json", json_reply)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def timed(backend, request=None) -> tuple[ChatResponse, float, float]:
    """The response, its TTFT and latency in seconds, measured as the runner does."""
    response, start, first, end = await run_attempt(
        backend, request or req(), True, 10.0, time.perf_counter
    )
    assert first is not None, "no text delta arrived: TTFT not measured"
    return response, first - start, end - start


async def deltas(backend) -> list[str]:
    return [i.text async for i in backend.stream(req()) if isinstance(i, TextDelta)]


async def test_sse_openai_shape_records_ttft_usage_and_finish(server: str) -> None:
    async with backend_registry.create(
        "http", url=f"{server}/sse", stream="sse", stream_done="[DONE]"
    ) as backend:
        response, ttft, latency = await timed(backend)
        assert response.text == "Hello, world"
        assert ttft < latency and latency - ttft >= PAUSE_S * 0.8
        assert response.usage is not None and response.usage.total_tokens == 7
        assert response.finish_reason == "stop"
        assert await deltas(backend) == ["Hello", ", world"]
        # send() drains the stream too (runner.stream off)
        assert (await backend.send(req())).text == "Hello, world"


async def test_stream_true_means_sse_and_the_default_body_asks_for_a_stream(server: str) -> None:
    backend = backend_registry.create("http", url=f"{server}/sse", stream=True)
    async with backend:
        assert backend.options.stream == "sse"
        assert (await backend.send(req())).text == "Hello, world"


async def test_sse_plain_text_events_follow_the_spec(server: str) -> None:
    async with backend_registry.create(
        "http", url=f"{server}/sse-plain", stream="sse", stream_path=None, stream_done="end"
    ) as backend:
        response, ttft, latency = await timed(backend)
        assert response.text == "line one\nline two and more"
        assert ttft < latency


async def test_ndjson_with_done_path(server: str) -> None:
    async with backend_registry.create(
        "http",
        url=f"{server}/ndjson",
        stream="ndjson",
        stream_path="message.content",
        stream_done_path="done",
    ) as backend:
        response, ttft, latency = await timed(backend)
        assert response.text == "Bonjour!"
        assert ttft < latency and latency - ttft >= PAUSE_S * 0.8
        assert response.usage is not None and response.usage.completion_tokens == 3
        assert await deltas(backend) == ["Bon", "jour", "!"]


async def test_chunked_text_with_a_done_marker(server: str) -> None:
    async with backend_registry.create(
        "http", url=f"{server}/chunked", stream="chunked", stream_done="<END>"
    ) as backend:
        response, ttft, latency = await timed(backend)
        assert response.text == "Grüß Gott"
        assert ttft < latency and latency - ttft >= PAUSE_S * 0.8
        assert "<" not in "".join(await deltas(backend))
    async with backend_registry.create("http", url=f"{server}/chunked", stream="chunked") as b:
        assert (await b.send(req())).text == "Grüß Gott<END>"


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("/sse?done=no", {"stream": "sse", "stream_done": "[DONE]"}),
        ("/sse?cut=1&done=no", {"stream": "sse"}),
        ("/ndjson?cut=1", {"stream": "ndjson", "stream_path": "message.content"}),
        (
            "/ndjson?cut=1",
            {"stream": "ndjson", "stream_path": "message.content", "stream_done_path": "done"},
        ),
        ("/chunked?done=no", {"stream": "chunked", "stream_done": "<END>"}),
    ],
)
async def test_a_stream_without_its_end_is_truncated(server: str, path: str, options) -> None:
    async with backend_registry.create("http", url=server + path, **options) as backend:
        with pytest.raises(BackendError) as info:
            await timed(backend)
    assert info.value.kind is ErrorKind.TRUNCATED_STREAM
    assert backend.classify(info.value).decision == "retry"


async def test_sse_without_a_configured_terminator_ends_cleanly(server: str) -> None:
    async with backend_registry.create("http", url=f"{server}/sse?done=no", stream="sse") as b:
        assert (await b.send(req())).text == "Hello, world"


async def test_json_reply_to_an_sse_request_is_a_bad_response(server: str) -> None:
    async with backend_registry.create("http", url=f"{server}/json", stream="sse") as backend:
        with pytest.raises(BadResponse, match="expected an event stream"):
            await backend.send(req())


async def test_non_json_events_hint_at_stream_path(server: str) -> None:
    async with backend_registry.create("http", url=f"{server}/sse-plain", stream="sse") as b:
        with pytest.raises(BadResponse, match="stream_path: null"):
            await b.send(req())


def test_bad_stream_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="stream"):
        backend_registry.create("http", url="http://127.0.0.1:9/x", stream="websocket")
    with pytest.raises(ConfigError, match="stream_path"):
        backend_registry.create("http", url="http://127.0.0.1:9/x", stream="sse", stream_path="a[")


def test_streams_only_with_a_stream_mode() -> None:
    url = "http://127.0.0.1:9/x"
    assert not backend_registry.create("http", url=url).streams()
    assert backend_registry.create("http", url=url, stream="ndjson").streams()
