"""A lean HTTP/1.1 client for one fixed URL: the non-streamed calls of the ``http`` backend.

aiohttp's client costs about 85 µs of CPU per request around the socket work (URL objects,
header multidicts, cookie jar, tracing hooks, timers, response and stream objects); against a
loopback server that is most of a request. A chatbot test sends the same request shape to
one URL thousands of times, so ``H1Pool`` builds the request head once and keeps a pool of
keep-alive connections as plain asyncio protocols; responses are parsed by ``httptools``
(llhttp, the parser of Node.js). A request then costs about 45 µs, close to the system calls.

It serves only what it can do exactly like aiohttp would: a static ``http(s)`` URL without
credentials whose path and query need no encoding (``H1Pool.supports``). The caller handles a
redirect (3xx) itself. It sends no ``Accept-Encoding``, and still decodes a gzip or deflate
body that a server compresses anyway. The body is held to ``runner.max_response_bytes`` as
it arrives. A connection is reused only after a complete response that allows keep-alive;
one that is cancelled, cut or idle for over ``keepalive_s`` is closed.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

import httptools

from chatbot_tester.common.backends.body_limit import max_response_bytes, too_large
from chatbot_tester.errors import BadResponse, ResponseTooLarge

__all__ = ["H1Error", "H1Pool", "H1Response", "ResponseHeaders"]

_TARGET_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?@!$&'()*+,;=%"
)
"""Characters a request target may hold as written (RFC 3986 unreserved, reserved and ``%``)."""


class H1Error(Exception):
    """The connection failed, closed early or carried a malformed response."""


class ResponseHeaders(dict[str, str]):
    """Response headers, looked up case-insensitively (keys are stored lower-cased)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of header ``key`` (any case), else ``default``."""
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())


class H1Response(NamedTuple):
    """One complete response."""

    status: int
    headers: ResponseHeaders
    body: bytes
    """The decoded body."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[H1Response] | None = None
        self._limit = 0
        self._keep_alive = False
        self._reset()

    def _reset(self) -> None:
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._until_close = False
        self._error: BaseException | None = None

    # -- the exchange ---------------------------------------------------------------------
    async def exchange(self, data: bytes, limit: int) -> H1Response:
        """Write one request and wait for its complete response."""
        assert self.transport is not None
        self._limit = limit
        waiter: asyncio.Future[H1Response] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self.transport.write(data)
        return await waiter

    def reusable(self) -> bool:
        """True when the last response allows another exchange on this connection."""
        return self._keep_alive and not self.closed

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(self._error or H1Error(f"malformed HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._until_close and self._error is None:
            self._complete()  # a body delimited by the end of the connection
            return
        detail = f": {exc}" if exc else ""
        self._fail(H1Error(f"the server closed the connection before a full response{detail}"))

    # -- httptools callbacks --------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._reset()

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        headers = self._headers
        if key in headers:
            headers[key] += ", " + value.decode("latin-1")
        else:
            headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        headers = self._headers
        status = self._parser.get_status_code()
        length = headers.get("content-length")
        if length is not None:
            if length.isdigit() and int(length) > self._limit:
                self._error = too_large(self._limit, int(length))
                raise self._error
        elif "chunked" not in headers.get("transfer-encoding", "") and status not in (204, 304):
            self._until_close = status >= 200

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._limit:
            self._error = too_large(self._limit)
            raise self._error
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            return  # an interim 1xx answer; the real one follows
        self._keep_alive = self._parser.should_keep_alive()
        self._complete()

    def _complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        body = b"".join(self._body)
        encoding = self._headers.get("content-encoding")
        if encoding is not None and encoding != "identity":
            try:
                body = _decode(body, encoding, self._limit)
            except (BadResponse, ResponseTooLarge) as exc:
                self.abort()
                waiter.set_exception(exc)
                return
        status = self._parser.get_status_code()
        waiter.set_result(H1Response(status, ResponseHeaders(self._headers), body))


def _unsafe(name: str, value: str) -> bool:
    """True when a header would not be one well-formed line."""
    return ":" in name or any(c in name or c in value for c in "\r\n\0")


def _header_lines(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if _unsafe(name, value):
            raise ValueError(f"header {name[:40]!r} holds a line break or colon; not sent")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("utf-8")


def _decode(body: bytes, encoding: str, limit: int) -> bytes:
    """``body`` decompressed (gzip or deflate), at most ``limit`` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":  # zlib-wrapped as the RFC says, or raw as some servers send
        decoder = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS)
    else:
        raise BadResponse(
            f"the response uses Content-Encoding {encoding!r}, which is not supported"
        )
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadResponse(f"the {encoding} body does not decompress: {exc}") from None
    if len(out) > limit:
        raise too_large(limit)
    return out


class H1Pool:
    """Keep-alive connections to the origin of one fixed URL, bound to one event loop."""

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str],
        limit: int,
        verify_tls: bool = True,
        connect_timeout_s: float = 30.0,
        keepalive_s: float = 30.0,
    ) -> None:
        if not self.supports(url, headers):
            raise ValueError(f"H1Pool cannot serve {url!r} exactly; use aiohttp")
        parts = urlsplit(url)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        self._verify = verify_tls
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        merged = {name.lower(): (name, value) for name, value in headers.items()}
        lines = [f"Host: {parts.netloc}"] + [f"{k}: {v}" for k, v in merged.values()]
        self._target = target.encode("ascii")
        self._head = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        self._limit = limit
        self._free = limit
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl: ssl.SSLContext | None = None
        self._connect_timeout = connect_timeout_s
        self._keepalive = keepalive_s

    @staticmethod
    def supports(url: str, headers: dict[str, str]) -> bool:
        """True when this client sends exactly what aiohttp would for ``url`` and ``headers``."""
        if "{{" in url or "{%" in url:
            return False
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            return False
        target = parts.path + parts.query
        if not set(target) <= _TARGET_CHARS:
            return False
        if any(_unsafe(name, value) for name, value in headers.items()):
            return False
        return all(name.lower() not in ("host", "content-length") for name in headers)

    async def request(
        self, method: str, body: bytes | None, extra: Mapping[str, str] | None = None
    ) -> H1Response:
        """The complete response to ``method`` with ``body`` and ``extra`` headers.

        A redirect is returned, not followed. ``ValueError`` when an ``extra`` header holds a
        line break (its value may come from a dataset).
        """
        more = b"" if not extra else _header_lines(extra)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        if self._free <= 0:
            await self._wait_for_slot(loop)
        self._free -= 1
        try:
            conn = self._idle_connection(loop) or await self._connect(loop)
            head = b"%s %s HTTP/1.1\r\n%s%s" % (
                method.encode("ascii"),
                self._target,
                self._head,
                more,
            )
            if body is not None:
                data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
            else:
                data = head + b"\r\n"
            try:
                response = await conn.exchange(data, max_response_bytes())
            except BaseException:
                conn.abort()
                raise
            if conn.reusable():
                conn.idle_since = loop.time()
                self._idle.append(conn)
            else:
                conn.close()
            return response
        finally:
            self._free += 1
            while self._slot_waiters:
                waiter = self._slot_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    break

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._free <= 0:
            waiter: asyncio.Future[None] = loop.create_future()
            self._slot_waiters.append(waiter)
            await waiter

    def _idle_connection(self, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                continue
            if loop.time() - conn.idle_since > self._keepalive:
                conn.close()
                continue
            return conn
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        context = self._ssl_context() if self._tls else None
        try:
            transport, conn = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=context,
                    server_hostname=self._host if context is not None else None,
                ),
                self._connect_timeout,
            )
        except TimeoutError:
            raise H1Error(
                f"connecting to {self._host}:{self._port} timed out after {self._connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise H1Error(f"cannot connect to {self._host}:{self._port}: {exc}") from None
        # uvloop (which Ray workers run on when it is installed) may call connection_made only
        # after create_connection returned: the transport is taken from the return value.
        conn.transport = transport
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            context = ssl.create_default_context()
            if not self._verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl = context
        return self._ssl

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget connections and waiters of another (earlier) event loop."""
        for conn in self._idle:
            conn.closed = True
        self._idle = []
        self._slot_waiters.clear()
        self._free = self._limit
        self._loop = loop

    def close(self) -> None:
        """Close every idle connection (those in use close when their exchange ends)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
