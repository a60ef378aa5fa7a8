"""The lean HTTP/1.1 client (``h1``) against a scripted loopback server: framing, keep-alive,
limits, cancellation, compression, TLS, and the ``http`` backend's use of it."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from chatbot_tester.common.backends.body_limit import response_limit
from chatbot_tester.common.backends.h1 import H1Error, H1Pool
from chatbot_tester.common.backends.http import HTTPBackend, HTTPOptions
from chatbot_tester.common.schemas import ChatRequest, Message
from chatbot_tester.errors import (
    BackendConnectionError,
    BackendError,
    BadResponse,
    ResponseTooLarge,
)

ANSWER = orjson.dumps({"choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}]})


def reply(body: bytes = ANSWER, *, status: str = "200 OK", headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


@dataclass
class Script:
    """A loopback server whose answer to the n-th request is ``answer(n, head)`` (raw bytes;
    ``None`` closes the connection without a word, ``b""`` never answers)."""

    answer: Callable[[int, bytes], bytes | None]
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    peak: int = 0
    url: str = ""
    delay_s: float = 0.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.heads.append(head)
                self.bodies.append(body)
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                try:
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    out = self.answer(len(self.heads) - 1, head)
                finally:
                    self.in_flight -= 1
                if out is None:
                    break
                if out == b"":
                    await asyncio.sleep(3600)
                writer.write(out)
                await writer.drain()
                if b"connection: close" in out.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def script() -> AsyncIterator[Callable[..., Script]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Callable[[int, bytes], bytes | None], **kw: object) -> Script:
        tls = kw.pop("tls", None)
        s = Script(answer, **kw)  # type: ignore[arg-type]
        server = await asyncio.start_server(s.handle, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        s.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/v1/chat?x=1"
        return s

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


def pool(url: str, **kw: object) -> H1Pool:
    return H1Pool(url, headers={"Content-Type": "application/json"}, limit=8, **kw)  # type: ignore[arg-type]


async def test_keep_alive_reuses_one_connection_and_sends_the_exact_head(script) -> None:
    srv = await script(lambda n, head: reply())
    p = pool(srv.url)
    for i in range(20):
        resp = await p.request("POST", b'{"n": %d}' % i)
        assert resp.status == 200 and orjson.loads(resp.body) == orjson.loads(ANSWER)
    p.close()
    assert srv.connections == 1
    port = srv.url.split(":")[2].split("/")[0]
    assert (
        srv.heads[3]
        == (
            f"POST /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 8\r\n\r\n"
        ).encode()
    )
    assert srv.bodies[3] == b'{"n": 3}'


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            b"hello world",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + reply(b"after 100"), b"after 100"),
        (reply(gzip.compress(b"zipped"), headers="Content-Encoding: gzip\r\n"), b"zipped"),
        (reply(zlib.compress(b"deflated"), headers="Content-Encoding: deflate\r\n"), b"deflated"),
        (
            reply(b"x", status="204 No Content").replace(
                b"Content-Length: 1", b"Content-Length: 0"
            )[:-1],
            b"",
        ),
    ],
    ids=["chunked", "interim-100", "gzip", "deflate", "204"],
)
async def test_response_framings(script, raw: bytes, body: bytes) -> None:
    srv = await script(lambda n, head: raw)
    p = pool(srv.url)
    first = await p.request("POST", b"{}")
    second = await p.request("POST", b"{}")
    p.close()
    assert first.body == second.body == body
    assert srv.connections == 1  # every framing leaves the connection reusable


async def test_a_body_delimited_by_close_and_connection_close_are_not_reused(script) -> None:
    srv = await script(lambda n, head: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
    p = pool(srv.url)
    assert (await p.request("POST", b"{}")).body == b"until the end"
    assert (await p.request("POST", b"{}")).body == b"until the end"
    p.close()
    assert srv.connections == 2


async def test_headers_are_case_insensitive_and_repeated_ones_joined(script) -> None:
    srv = await script(lambda n, head: reply(headers="retry-after: 3\r\nX-A: 1\r\nx-a: 2\r\n"))
    resp = await pool(srv.url).request("POST", b"{}")
    assert resp.headers.get("Retry-After") == "3" and resp.headers["RETRY-AFTER"] == "3"
    assert resp.headers.get("X-A") == "1, 2" and "Content-Type" in resp.headers


@pytest.mark.parametrize(
    "raw",
    [
        reply(b"x" * 2000),  # announced over the limit
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"400\r\n"
        + b"y" * 1024
        + b"\r\n" * 2,
        reply(
            gzip.compress(b"z" * 5000), headers="Content-Encoding: gzip\r\n"
        ),  # a zip bomb in small
    ],
    ids=["content-length", "chunked", "gzip"],
)
async def test_bodies_over_the_limit_fail_and_drop_the_connection(script, raw: bytes) -> None:
    srv = await script(lambda n, head: raw if n == 0 else reply())
    p = pool(srv.url)
    with response_limit(1000), pytest.raises(ResponseTooLarge):
        await p.request("POST", b"{}")
    assert (await p.request("POST", b"{}")).body == ANSWER
    p.close()
    assert srv.connections == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda n, head: None, "closed the connection before a full response"),
        (
            lambda n, head: reply(headers="Connection: close\r\n")[:-5],
            "closed the connection before a full response",
        ),
        (lambda n, head: b"SMTP ready\r\n\r\n", "malformed HTTP response"),
    ],
    ids=["closed", "cut-body", "not-http"],
)
async def test_broken_responses_are_connection_errors(script, answer, message) -> None:
    srv = await script(lambda n, head: answer(n, head) if n == 0 else reply())
    p = pool(srv.url)
    with pytest.raises(H1Error, match=message):
        await p.request("POST", b"{}")
    assert (await p.request("POST", b"{}")).status == 200  # a fresh connection
    p.close()


async def test_unsupported_encoding_is_a_bad_response(script) -> None:
    srv = await script(lambda n, head: reply(b"??", headers="Content-Encoding: br\r\n"))
    with pytest.raises(BadResponse, match="Content-Encoding 'br'"):
        await pool(srv.url).request("POST", b"{}")


async def test_refused_connection_names_the_origin() -> None:
    with pytest.raises(H1Error, match=r"cannot connect to 127\.0\.0\.1:1"):
        await pool("http://127.0.0.1:1/x").request("POST", b"{}")


async def test_cancelled_exchange_closes_its_connection(script) -> None:
    srv = await script(lambda n, head: b"" if n == 0 else reply())  # the first never answers
    p = pool(srv.url)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(p.request("POST", b"{}"), 0.2)
    assert (await p.request("POST", b"{}")).status == 200
    p.close()
    assert srv.connections == 2  # the hung connection was not reused for the second answer


async def test_the_pool_limit_bounds_connections_in_flight(script) -> None:
    srv = await script(lambda n, head: reply(), delay_s=0.02)
    p = H1Pool(srv.url, headers={}, limit=3)
    outs = await asyncio.gather(*(p.request("POST", b"{}") for _ in range(12)))
    p.close()
    assert all(o.status == 200 for o in outs)
    assert srv.peak == 3 and srv.connections == 3


async def test_idle_connections_past_keepalive_are_replaced(script) -> None:
    srv = await script(lambda n, head: reply())
    p = pool(srv.url, keepalive_s=0.0)
    await p.request("POST", b"{}")
    await asyncio.sleep(0.01)
    await p.request("POST", b"{}")
    p.close()
    assert srv.connections == 2


@pytest.mark.parametrize(
    ("url", "headers", "ok"),
    [
        ("http://127.0.0.1:8000/v1/chat/completions", {}, True),
        ("https://api.example.com/v1?a=b&c=%20d", {"Authorization": "Bearer k"}, True),
        ("http://127.0.0.1:8000/chat/{{ session_id }}", {}, False),  # templated
        ("http://user:pw@127.0.0.1:8000/x", {}, False),  # credentials: aiohttp's basic auth
        ("http://127.0.0.1:8000/a b", {}, False),  # needs encoding
        ("http://127.0.0.1:8000/ünï", {}, False),
        ("http://127.0.0.1:8000/x", {"X-Evil": "a\r\nHost: other"}, False),
        ("http://127.0.0.1:8000/x", {"Host": "other"}, False),
    ],
)
def test_supports_only_what_it_sends_exactly(url: str, headers: dict[str, str], ok: bool) -> None:
    assert H1Pool.supports(url, headers) is ok


# -- TLS ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_verifies_unless_told_not_to(script, certificate, monkeypatch) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    srv = await script(lambda n, head: reply(), tls=server_context)
    with pytest.raises(H1Error, match="CERTIFICATE_VERIFY_FAILED"):
        await pool(srv.url).request("POST", b"{}")
    unverified = pool(srv.url, verify_tls=False)
    assert (await unverified.request("POST", b"{}")).body == ANSWER
    unverified.close()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust our own certificate authority
    trusting = pool(srv.url)
    assert (await trusting.request("POST", b"{}")).body == ANSWER
    trusting.close()


# -- the http backend on it -----------------------------------------------------------------
def ask(text: str = "hi") -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="m")


@pytest.mark.parametrize(
    ("status", "method"), [("307", b"POST"), ("308", b"POST"), ("303", b"GET"), ("302", b"GET")]
)
async def test_the_backend_follows_a_redirect_once_through_aiohttp(script, status, method) -> None:
    def answer(n: int, head: bytes) -> bytes:
        if head.startswith(b"POST /v1/chat"):
            return reply(b"", status=f"{status} Moved", headers="Location: /final\r\n")
        return reply()

    srv = await script(answer)
    backend = HTTPBackend(HTTPOptions(url=srv.url))
    assert backend._h1 is not None
    async with backend:
        response = await backend.send(ask())
    assert response.text == "hello"
    # The original request went out once; the redirect target got the method aiohttp uses.
    assert [h.split(b" ")[:2] for h in srv.heads] == [
        [b"POST", b"/v1/chat?x=1"],
        [method, b"/final"],
    ]
    assert srv.bodies[1] == (srv.bodies[0] if method == b"POST" else b"")


async def test_a_redirect_to_another_origin_is_not_followed(script) -> None:
    srv = await script(
        lambda n, head: reply(b"", status="307 Moved", headers="Location: http://127.0.0.2:9/x\r\n")
    )
    backend = HTTPBackend(HTTPOptions(url=srv.url, headers={"Authorization": "Bearer sk-canary"}))
    async with backend:
        with pytest.raises(BadResponse, match="redirects \\(307\\) to another origin"):
            await backend.send(ask())
    assert len(srv.heads) == 1


async def test_other_redirects_are_errors_without_a_second_request(script) -> None:
    srv = await script(lambda n, head: reply(b"", status="300 Multiple Choices"))
    backend = HTTPBackend(HTTPOptions(url=srv.url))
    async with backend:
        with pytest.raises(Exception, match="300"):
            await backend.send(ask())
    assert len(srv.heads) == 1


async def test_the_backend_reports_errors_as_before(script) -> None:
    answers = [
        reply(
            b'{"error": "slow down"}', status="429 Too Many Requests", headers="Retry-After: 7\r\n"
        ),
        None,
    ]
    srv = await script(lambda n, head: answers[n])
    backend = HTTPBackend(HTTPOptions(url=srv.url))
    async with backend:
        with pytest.raises(Exception) as limited:
            await backend.send(ask())
        assert backend.classify(limited.value).retry_after == 7.0
        with pytest.raises(
            BackendConnectionError,
            match=r"connection to http://127\.0\.0\.1:\d+ failed: the server closed",
        ):
            await backend.send(ask())


async def test_the_openai_direct_transport_sends_over_h1_and_refuses_a_broken_header(
    script,
) -> None:
    from chatbot_tester.common.backends import backend_registry

    completion = orjson.dumps(
        {"id": "c", "object": "chat.completion", "model": "m",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}
    )  # fmt: skip
    srv = await script(lambda n, head: reply(completion))
    base = srv.url.split("/v1/")[0] + "/v1"
    backend = backend_registry.create(
        "openai", base_url=base, api_key="sk-test-123456", sample_id_header="X-Sample-Id"
    )
    try:
        request = ChatRequest(messages=[Message(role="user", content="hi")], model="m")
        assert (await backend.send(request.model_copy(update={"sample_id": "s-1"}))).text == "ok"
        with pytest.raises(BackendError, match="line break") as broken:
            await backend.send(request.model_copy(update={"sample_id": "s\r\nX-Evil: 1"}))
        assert broken.value.retryable is False  # a retry would send the same broken header
    finally:
        await backend.aclose()
    assert backend._direct is not None
    assert all(r.h1 is not None for r in backend._direct._routes.values())
    assert len(srv.heads) == 1 and b"X-Sample-Id: s-1\r\n" in srv.heads[0]
    assert srv.heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")


@pytest.mark.parametrize("stream", [False, True], ids=["h1", "aiohttp-stream"])
async def test_no_cookie_travels_from_one_call_to_the_next(script, stream: bool) -> None:
    sse = (
        b"data: "
        + orjson.dumps({"choices": [{"delta": {"content": "hi"}}]})
        + b"\n\ndata: [DONE]\n\n"
    )
    cookie = "Set-Cookie: session=sample-one; Path=/\r\n"
    body = sse if stream else ANSWER
    kind = "text/event-stream" if stream else "application/json"
    srv = await script(
        lambda n, head: reply(body, headers=cookie).replace(b"application/json", kind.encode())
    )
    # aiohttp's jar ignores cookies of IP hosts: a host name makes the test able to fail
    url = srv.url.replace("127.0.0.1", "localhost")
    backend = HTTPBackend(HTTPOptions(url=url, stream="sse" if stream else None))
    async with backend:
        for _ in range(2):
            await backend.send(ask())
    assert len(srv.heads) == 2 and all(b"cookie" not in h.lower() for h in srv.heads)


def test_the_pool_runs_on_uvloop_too(fault_server_thread) -> None:
    """Ray workers run on uvloop when it is installed (the Ray tests, on uvloop as a dev
    dependency, also catch its late ``connection_made`` that the pool must not rely on)."""
    import uvloop  # a dev dependency

    url = fault_server_thread.base_url + "/chat/completions"
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})

    async def main() -> list[int]:
        p = pool(url)
        try:
            outs = await asyncio.gather(*(p.request("POST", body) for _ in range(8)))
        finally:
            p.close()
        return [o.status for o in outs]

    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        assert asyncio.run(main()) == [200] * 8
    finally:
        asyncio.set_event_loop_policy(policy)
