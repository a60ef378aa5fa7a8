"""The ``aiohttp-direct`` transport of the ``openai`` backend: SDK configuration, aiohttp calls.

The official SDK spends most of its CPU per call on building the request (options models,
httpx2 URL and header objects) and wrapping the response. Here the SDK is asked **once per
model** to build a chat-completions request through its own pipeline (``_prepare_options``,
``_build_request``, ``_prepare_request``): that yields the final URL (base URL, Azure
endpoint/deployment routing, ``api-version`` query) and headers (API key or Azure
``api-key``, organization, project, default headers, ``OPENAI_CUSTOM_HEADERS``, user agent,
platform headers). Every call then is one POST with an orjson body, on the lean HTTP/1.1
pool of ``h1`` (non-streamed calls to a URL it serves exactly) or a shared aiohttp session; answers, errors and event streams are read with ``openai_wire`` and
``error_for_status``, exactly as on the SDK path.

Clients that authenticate per request (an API-key or Azure AD token provider, workload
identity, a provider plug-in, custom httpx auth) are not eligible: ``sdk_authenticates_per_request``
says so and the backend then stays on the SDK path. Redirects are not followed (a 3xx is a
non-retryable HTTP error naming the new location) so credentials never travel to another
origin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from chatbot_tester.common.backends.aio_session import LoopSession
from chatbot_tester.common.backends.body_limit import read_aiohttp
from chatbot_tester.common.backends.direct_http import (
    DirectRoute,
    SDKInternalsChanged,
    h1_post,
    lean_pool,
    request_headers,
    sdk_route,
    sse_payloads,
    status_error,
)
from chatbot_tester.common.backends.h1 import H1Pool
from chatbot_tester.common.backends.openai_wire import StreamAccumulator, parse_completion
from chatbot_tester.common.backends.sdk_common import json_payload, snippet
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta
from chatbot_tester.errors import (
    BackendConnectionError,
    BackendError,
    BackendTimeout,
    BadResponse,
)

if TYPE_CHECKING:
    import openai

__all__ = [
    "DirectRoute",
    "DirectTransport",
    "SDKInternalsChanged",
    "openai_route",
    "sdk_authenticates_per_request",
]

_PER_REQUEST_AUTH = (
    "_api_key_provider",
    "_azure_ad_token_provider",
    "_provider_runtime",
    "_workload_identity_auth",
)


class _Route(NamedTuple):
    route: DirectRoute
    sessions: LoopSession
    """Connection pool sending ``route.headers`` as session defaults (cheaper per call)."""
    h1: H1Pool | None
    """The lean HTTP/1.1 pool for non-streamed calls, when the route allows it (``h1``)."""


def sdk_authenticates_per_request(client: Any) -> bool:
    """True when ``client`` computes credentials per request (then only the SDK path is right)."""
    if any(getattr(client, name, None) is not None for name in _PER_REQUEST_AUTH):
        return True
    try:
        return client.custom_auth is not None
    except Exception:  # an SDK whose property needs more context: be safe
        return True


async def openai_route(client: openai.AsyncOpenAI, model: str) -> DirectRoute:
    """The URL and headers the SDK client would use to POST ``/chat/completions`` for ``model``.

    Raises ``SDKInternalsChanged`` when the SDK's request pipeline is not the expected one.
    """
    return await sdk_route(client, "openai", "/chat/completions", {"model": model})


class DirectTransport:
    """Chat Completions over one shared aiohttp session, routed and authenticated by the SDK."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        max_connections: int,
        timeout_s: float,
        sample_id_header: str | None,
    ) -> None:
        self.client = client
        self.sample_id_header = sample_id_header
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self._routes: dict[str, _Route] = {}

    @property
    def routes(self) -> dict[str, DirectRoute]:
        """Derived routes by model name (usually one)."""
        return {model: r.route for model, r in self._routes.items()}

    async def route_for(self, model: str) -> DirectRoute:
        """The route for ``model`` (derived through the SDK on first use, then cached)."""
        return (self._routes.get(model) or await self._derive(model)).route

    async def _derive(self, model: str) -> _Route:
        found = self._routes.get(model)
        if found is None:
            route = await openai_route(self.client, model)
            # Models answered at the same URL with the same headers share one pool.
            same = next((r for r in self._routes.values() if r.route[:2] == route[:2]), None)
            if same is not None:
                sessions, h1 = same.sessions, same.h1
            else:
                sessions = LoopSession(
                    limit=self.max_connections, timeout_s=self.timeout_s, headers=route.headers
                )
                h1 = lean_pool(route, self.max_connections)
            found = self._routes[model] = _Route(route, sessions, h1)
        return found

    def _headers(self, route: DirectRoute, request: ChatRequest) -> dict[str, str] | None:
        return request_headers(self.client, route, self.sample_id_header, request.sample_id)

    async def send(self, request: ChatRequest, body: dict[str, Any]) -> ChatResponse:
        """POST one completion and parse it (``BackendError`` on any failure)."""
        model = body["model"]
        route, sessions, h1 = self._routes.get(model) or await self._derive(model)
        if h1 is not None:
            raw, content_type = await h1_post(h1, orjson.dumps(body), self._headers(route, request))
            return parse_completion(json_payload(raw, content_type))
        import aiohttp

        try:
            async with sessions.get().post(
                route.url,
                data=orjson.dumps(body),
                headers=self._headers(route, request),
                allow_redirects=False,
            ) as resp:
                raw = await read_aiohttp(resp)
                status = resp.status
                if status >= 300:
                    raise status_error(status, resp.headers, raw)
                content_type = resp.headers.get("Content-Type", "")
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise convert_aiohttp_error(exc) from None
        data = json_payload(raw, content_type)
        return parse_completion(data)

    async def stream(
        self, request: ChatRequest, body: dict[str, Any], acc: StreamAccumulator | None = None
    ) -> AsyncGenerator[TextDelta | ChatResponse, None]:
        """POST a streamed completion: text deltas as they arrive, then the full response."""
        import aiohttp

        model = body["model"]
        route, sessions, _ = self._routes.get(model) or await self._derive(model)
        acc = StreamAccumulator() if acc is None else acc
        try:
            resp = await sessions.get().post(
                route.url,
                data=orjson.dumps(body),
                headers=self._headers(route, request),
                allow_redirects=False,
            )
            try:
                async for payload in sse_payloads(resp, lambda: acc.done):
                    if payload == b"[DONE]":
                        acc.done = True
                        continue
                    delta = acc.add(payload)
                    if delta:
                        yield TextDelta(text=delta)
            finally:
                resp.release()  # an unfinished body closes the connection instead of reusing it
        except BackendError:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise convert_aiohttp_error(exc) from None
        yield acc.result()

    async def aclose(self) -> None:
        """Close the connection pools."""
        for route in self._routes.values():
            if route.h1 is not None:
                route.h1.close()
            await route.sessions.aclose()


def convert_aiohttp_error(exc: BaseException) -> BackendError:
    """An aiohttp (or decoding) failure as our error, with secrets redacted."""
    import aiohttp

    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, asyncio.TimeoutError):  # includes aiohttp's ServerTimeoutError
        return BackendTimeout("request timed out")
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return BackendConnectionError(
            f"connection failed: {type(exc).__name__}: {snippet(str(exc), 120)}"
        )
    return BadResponse(f"unreadable response: {type(exc).__name__}: {snippet(str(exc), 120)}")


def is_aiohttp_error(exc: BaseException) -> bool:
    """True for exceptions of aiohttp (without importing it when it was never loaded)."""
    import sys

    module = sys.modules.get("aiohttp")
    return module is not None and isinstance(exc, module.ClientError)
