"""How the test server misbehaves: one coroutine per fault mode, answering an aiohttp request.

Endless faults (``hang``, ``drip``, ``keepalive``) end when the client disconnects (the
server cancels the handler) or when the server stops (``stopping`` is set), so stopping the
server never waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from email.utils import formatdate
from typing import Any, Literal, NoReturn

import orjson
from aiohttp import web

__all__ = ["Flavor", "error_json", "write_fault"]

Flavor = Literal["openai", "anthropic"]
"""Wire format of error bodies: OpenAI's ``{"error": {...}}`` or Anthropic's ``{"type": "error", ...}``."""

_HTML = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>upstream error (injected)</p></body></html>"
)

_ANTHROPIC_TYPES = {
    429: "rate_limit_error",
    401: "authentication_error",
    500: "api_error",
    503: "overloaded_error",
}


def error_json(
    status: int,
    message: str,
    *,
    flavor: Flavor,
    err_type: str | None = None,
    code: str | None = None,
) -> bytes:
    """An error body in the wire format of ``flavor``."""
    if flavor == "anthropic":
        kind = err_type or _ANTHROPIC_TYPES.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    default = "requests" if status == 429 else "invalid_request_error"
    kind = err_type or ("server_error" if status >= 500 else default)
    if status == 429 and code is None and err_type is None:
        code = "rate_limit_exceeded"
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def _json(status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


async def _until_stopped(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds``; True when the server started stopping meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


async def _trickle(
    request: web.Request,
    stopping: asyncio.Event,
    interval: float,
    *,
    content_type: str,
    first: bytes,
    chunk: bytes,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await resp.prepare(request)
    if first:
        await resp.write(first)
    while not await _until_stopped(stopping, interval):
        await resp.write(chunk)
    _abort(request)


def _abort(request: web.Request) -> NoReturn:
    """Drop the TCP connection without finishing the response."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError  # nothing more can be written; aiohttp drops the request


async def _reset(request: web.Request, body: bytes) -> web.StreamResponse:
    """Send headers and half the body, then abort the TCP connection."""
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
    )
    await resp.prepare(request)
    await resp.write(body[: len(body) // 2])
    _abort(request)


async def _broken_stream(
    request: web.Request, events: list[bytes], *, reset: bool
) -> web.StreamResponse:
    """Start an event stream, send its first half, then end it early or drop the connection."""
    resp = web.StreamResponse(
        status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    await resp.write(b"".join(events[: max(1, len(events) // 2)]))
    if reset:
        _abort(request)
    await resp.write_eof()
    return resp


_ENDLESS_CHUNK = b"x" * 65536


async def _endless(
    request: web.Request, stopping: asyncio.Event, *, stream: bool, flavor: Flavor
) -> web.StreamResponse:
    """A 200 answer whose text never ends (64 KiB pieces, as fast as the client reads)."""
    content_type = "text/event-stream" if stream else "application/json"
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await resp.prepare(request)
    if stream:
        text = _ENDLESS_CHUNK.decode()
        piece: dict[str, Any] = (
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            }
            if flavor == "anthropic"
            else {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": text}}],
            }
        )
        chunk = b"data: " + orjson.dumps(piece) + b"\n\n"
    else:
        await resp.write(b'{"object":"chat.completion","choices":[{"message":{"content":"')
        chunk = _ENDLESS_CHUNK
    while not stopping.is_set():
        await resp.write(chunk)  # raises once the client has gone
    _abort(request)


async def write_fault(
    request: web.Request,
    mode: str,
    *,
    flavor: Flavor,
    retry_after_s: float,
    stopping: asyncio.Event,
    interval: float,
    sample_body: dict[str, Any],
    sample_events: list[bytes] | None = None,
) -> web.StreamResponse:
    """Answer ``request`` with fault ``mode`` (``sample_body`` is a plausible good answer).

    ``sample_events`` are the SSE events of that answer when the request asked for a stream;
    ``stream_cut`` and ``stream_reset`` send their first half and then end the body without
    the terminator, or drop the connection (a plain request gets half a JSON body instead).
    """
    if mode in ("stream_cut", "stream_reset"):
        if sample_events is None:
            body = orjson.dumps(sample_body)
            if mode == "stream_reset":
                return await _reset(request, body)
            return _json(200, body[: max(1, len(body) // 2)])
        return await _broken_stream(request, sample_events, reset=mode == "stream_reset")
    if mode == "429":
        return _json(
            429,
            error_json(429, "Rate limit reached (injected)", flavor=flavor),
            {"Retry-After": f"{retry_after_s:g}"},
        )
    if mode == "429_date":
        when = formatdate(time.time() + retry_after_s, usegmt=True)
        return _json(
            429,
            error_json(429, "Rate limit reached (injected)", flavor=flavor),
            {"Retry-After": when},
        )
    if mode == "429_ms":
        return _json(
            429,
            error_json(429, "Rate limit reached (injected)", flavor=flavor),
            {"retry-after-ms": str(round(retry_after_s * 1000))},
        )
    if mode == "429_quota":
        message = "You exceeded your current quota, please check your plan and billing details."
        return _json(
            429,
            error_json(
                429,
                message,
                flavor=flavor,
                err_type="insufficient_quota",
                code="insufficient_quota",
            ),
        )
    if mode in ("500", "503"):
        status = int(mode)
        return _json(
            status, error_json(status, f"Internal error {status} (injected)", flavor=flavor)
        )
    if mode == "401":
        return _json(
            401,
            error_json(
                401, "Incorrect API key provided (injected)", flavor=flavor, code="invalid_api_key"
            ),
        )
    if mode == "400_model":  # LiteLLM's answer to a model name it does not route
        message = (
            "litellm.BadRequestError: Invalid model name passed in model=unknown-model (injected)."
            " Call `/v1/models` to view available models for your key."
        )
        return _json(400, error_json(400, message, flavor=flavor, code="400"))
    if mode == "truncated_json":
        body = orjson.dumps(sample_body)
        return _json(200, body[: max(1, len(body) // 2)])
    if mode == "error_body":
        return _json(200, error_json(500, "The server had an error (injected)", flavor=flavor))
    if mode == "html":
        return web.Response(status=200, body=_HTML, content_type="text/html")
    if mode == "reset":
        return await _reset(request, orjson.dumps(sample_body))
    if mode == "endless_body":
        return await _endless(request, stopping, stream=sample_events is not None, flavor=flavor)
    if mode == "hang":
        await stopping.wait()
        _abort(request)
    if mode == "drip":
        return await _trickle(
            request, stopping, interval, content_type="application/json", first=b"{", chunk=b" "
        )
    if mode == "keepalive":
        return await _trickle(
            request,
            stopping,
            interval,
            content_type="text/event-stream",
            first=b": keep-alive\n\n",
            chunk=b": keep-alive\n\n",
        )
    raise ValueError(f"unknown fault mode {mode!r}")
