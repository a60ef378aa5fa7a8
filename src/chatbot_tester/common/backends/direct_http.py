"""What the direct aiohttp transports (``openai_direct``, ``anthropic_direct``) share.

``sdk_route`` asks an official SDK client (openai or anthropic) once for the URL and headers
of a request through its own pipeline; ``status_error`` turns a non-2xx answer into our error the way the SDKs read bodies, and
``sse_payloads`` reads an event-stream body: it checks the content type, counts the bytes
against ``runner.max_response_bytes`` and yields each ``data:`` payload while the caller's
accumulator is not done, then reads on to the end of the body so that aiohttp returns the
keep-alive connection to its pool (junk past the limit after a complete answer is dropped
with the connection instead).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from chatbot_tester.common.backends.body_limit import StreamBudget, read_aiohttp, too_large
from chatbot_tester.common.backends.h1 import H1Error, H1Pool
from chatbot_tester.common.backends.openai_wire import SSELines
from chatbot_tester.common.backends.sdk_common import error_for_status, snippet
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendConnectionError, BackendError, BadResponse

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DirectRoute",
    "SDKInternalsChanged",
    "h1_post",
    "lean_pool",
    "request_headers",
    "sdk_route",
    "sse_payloads",
    "status_error",
]

TRANSPORT_OWNED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}
)
"""Headers of the SDK-built request that belong to its HTTP client, not to the API call
(aiohttp sets its own, and decodes the encodings it advertises)."""


class DirectRoute(NamedTuple):
    """Where and how to POST one API call, as the SDK would."""

    url: str
    """Absolute URL, query included."""
    headers: dict[str, str]
    """Request headers (auth, organization/project, defaults, user agent, platform)."""
    idempotency_header: str | None
    """Header that needs a fresh key per request, when the SDK client uses one."""


class SDKInternalsChanged(RuntimeError):
    """The installed SDK no longer has the request-building hooks used here."""


async def sdk_route(
    client: Any,
    package: str,
    path: str,
    json_data: dict[str, Any],
    *,
    keep: Callable[[str], bool] = lambda name: True,
) -> DirectRoute:
    """The URL and headers ``client`` (of SDK ``package``: openai, anthropic) would POST ``path`` with.

    The SDK's own pipeline builds one request (``_prepare_options``, ``_build_request``,
    ``_prepare_request``); its headers, less those of the transport and those ``keep``
    rejects (lower-cased name), are the route's. Raises ``SDKInternalsChanged`` when the
    SDK's request pipeline is not the expected one.
    """
    try:
        base_client = importlib.import_module(f"{package}._base_client")
        models = importlib.import_module(f"{package}._models")
        if client._platform is None:  # the SDK fills this on its first request, off the loop
            client._platform = await asyncio.to_thread(base_client.get_platform)
        options = models.FinalRequestOptions.construct(method="post", url=path, json_data=json_data)
        options = await client._prepare_options(options)
        request = client._build_request(options)
        await client._prepare_request(request)
        raw_headers = request.headers.raw
        url = str(request.url)
        idempotency = client._idempotency_header
    except (AttributeError, ImportError, TypeError) as exc:
        raise SDKInternalsChanged(f"{type(exc).__name__}: {exc}") from None
    headers: dict[str, str] = {}
    for key, value in raw_headers:
        name = key.decode("latin-1")
        lower = name.lower()
        if lower not in TRANSPORT_OWNED and keep(lower):
            headers[name] = value.decode("latin-1")
    return DirectRoute(url, headers, idempotency)


def request_headers(
    client: Any, route: DirectRoute, sample_id_header: str | None, sample_id: str | None
) -> dict[str, str] | None:
    """Per-request headers on top of the route's (``None`` when there are none)."""
    headers: dict[str, str] | None = None
    if sample_id_header is not None and sample_id:
        headers = {sample_id_header: sample_id}
    if route.idempotency_header is not None:
        headers = headers or {}
        headers[route.idempotency_header] = client._idempotency_key()
    return headers


def lean_pool(route: DirectRoute, limit: int) -> H1Pool | None:
    """The ``h1`` pool for the route's non-streamed calls, when it serves the route exactly."""
    if not H1Pool.supports(route.url, route.headers):
        return None
    return H1Pool(route.url, headers=route.headers, limit=limit)


async def h1_post(
    pool: H1Pool, body: bytes, headers: Mapping[str, str] | None
) -> tuple[bytes, str]:
    """POST ``body`` on ``pool``: the 2xx answer's body and content type, else our error.

    Redirects are not followed (``status_error`` names the new location).
    """
    try:
        reply = await pool.request("POST", body, headers)
    except H1Error as exc:
        raise BackendConnectionError(f"connection failed: {snippet(str(exc), 120)}") from None
    except ValueError as exc:  # a per-request header (sample id) that would break the request
        raise BackendError(str(exc), kind=ErrorKind.CONFIG, retryable=False) from None
    if reply.status >= 300:
        raise status_error(reply.status, reply.headers, reply.body)
    return reply.body, reply.headers.get("Content-Type", "")


def status_error(status: int, headers: Mapping[str, str], raw: bytes) -> BackendError:
    """The error for a non-2xx answer; the body is read as the SDK reads it (JSON, else text)."""
    body: object
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", "replace").strip()
    if 300 <= status < 400:
        where = headers.get("Location", "")
        body = f"redirect to {snippet(where, 120)} (not followed: set base_url to the final URL)"
    return error_for_status(status, headers, body)


async def sse_payloads(
    resp: aiohttp.ClientResponse, done: Callable[[], bool]
) -> AsyncGenerator[bytes, None]:
    """The ``data:`` payloads of an event-stream answer while ``done()`` is false."""
    if resp.status >= 300:
        raise status_error(resp.status, resp.headers, await read_aiohttp(resp))
    content_type = resp.headers.get("Content-Type", "")
    if "event-stream" not in content_type:
        text = snippet((await read_aiohttp(resp)).decode("utf-8", "replace"), 80)
        raise BadResponse(
            f"expected an event stream, got {content_type or 'no content type'}: {text}"
        )
    lines = SSELines()
    budget = StreamBudget()
    async for chunk in resp.content.iter_any():
        budget.left -= len(chunk)
        if budget.left < 0:
            if done():
                return  # a complete answer, then junk: dropped with the connection
            raise too_large(budget.limit)
        for payload in lines.feed(chunk):
            if not done():
                yield payload
    for payload in lines.close():
        if not done():
            yield payload
