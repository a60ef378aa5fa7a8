"""The ``aiohttp-direct`` transport of the ``anthropic`` backend: SDK configuration, aiohttp calls.

As for ``openai`` (see ``openai_direct``), the SDK is asked **once** to build a Messages
request through its own pipeline (``_prepare_options``, ``_build_request``,
``_prepare_request``): that yields the final URL and headers (API key or auth token,
``anthropic-version``, default headers, user agent, platform headers). Every call then is
one POST on a shared aiohttp session with an orjson body; answers, errors and event streams
are read with ``anthropic_wire`` and ``error_for_status``, exactly as on the SDK path.
Clients that authenticate per request (a token cache, custom auth) are not eligible;
redirects are not followed, so credentials never travel to another origin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import orjson

from chatbot_tester.common.backends.aio_session import LoopSession
from chatbot_tester.common.backends.anthropic_wire import StreamState, parse_message
from chatbot_tester.common.backends.body_limit import read_aiohttp
from chatbot_tester.common.backends.direct_http import (
    DirectRoute,
    h1_post,
    lean_pool,
    request_headers,
    sdk_route,
    sse_payloads,
    status_error,
)
from chatbot_tester.common.backends.h1 import H1Pool
from chatbot_tester.common.backends.openai_direct import convert_aiohttp_error
from chatbot_tester.common.backends.sdk_common import json_payload
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta
from chatbot_tester.errors import BackendError

if TYPE_CHECKING:
    import anthropic

__all__ = ["AnthropicDirect", "anthropic_authenticates_per_request", "anthropic_route"]


def anthropic_authenticates_per_request(client: Any) -> bool:
    """True when ``client`` computes credentials per request (then only the SDK path is right)."""
    if any(getattr(client, name, None) is not None for name in ("_token_cache", "_custom_auth")):
        return True
    try:
        return client.custom_auth is not None
    except Exception:  # an SDK whose property needs more context: be safe
        return True


async def anthropic_route(client: anthropic.AsyncAnthropic) -> DirectRoute:
    """The URL and headers the SDK client would use to POST ``/v1/messages``.

    Raises ``SDKInternalsChanged`` when the SDK's request pipeline is not the expected one.
    """
    return await sdk_route(
        client,
        "anthropic",
        "/v1/messages",
        {"model": "m"},
        # x-stainless-* timeouts describe the SDK's own client, not this one
        keep=lambda name: "timeout" not in name,
    )


class AnthropicDirect:
    """Messages API calls over one shared aiohttp session, routed and authenticated by the SDK."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        max_connections: int,
        timeout_s: float,
        sample_id_header: str | None,
    ) -> None:
        self.client = client
        self.sample_id_header = sample_id_header
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self._route: DirectRoute | None = None
        self._sessions: LoopSession | None = None
        self._h1: H1Pool | None = None

    async def route(self) -> tuple[DirectRoute, LoopSession]:
        """The route (derived through the SDK on first use) and its connection pool."""
        if self._route is None or self._sessions is None:
            route = await anthropic_route(self.client)
            if self._route is None:  # another call may have derived it meanwhile
                self._route = route
                self._sessions = LoopSession(
                    limit=self.max_connections, timeout_s=self.timeout_s, headers=route.headers
                )
                self._h1 = lean_pool(route, self.max_connections)
        assert self._route is not None and self._sessions is not None
        return self._route, self._sessions

    def _headers(self, route: DirectRoute, request: ChatRequest) -> dict[str, str] | None:
        return request_headers(self.client, route, self.sample_id_header, request.sample_id)

    async def send(self, request: ChatRequest, body: dict[str, Any]) -> ChatResponse:
        """POST one message and parse it (``BackendError`` on any failure)."""
        route, sessions = await self.route()
        if self._h1 is not None:
            raw, content_type = await h1_post(
                self._h1, orjson.dumps(body), self._headers(route, request)
            )
            return parse_message(json_payload(raw, content_type))
        import aiohttp

        try:
            async with sessions.get().post(
                route.url,
                data=orjson.dumps(body),
                headers=self._headers(route, request),
                allow_redirects=False,
            ) as resp:
                raw = await read_aiohttp(resp)
                if resp.status >= 300:
                    raise status_error(resp.status, resp.headers, raw)
                content_type = resp.headers.get("Content-Type", "")
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise convert_aiohttp_error(exc) from None
        return parse_message(json_payload(raw, content_type))

    async def stream(
        self, request: ChatRequest, body: dict[str, Any]
    ) -> AsyncGenerator[TextDelta | ChatResponse, None]:
        """POST a streamed message: text deltas as they arrive, then the full response."""
        import aiohttp

        route, sessions = await self.route()
        state = StreamState()
        try:
            resp = await sessions.get().post(
                route.url,
                data=orjson.dumps(body),
                headers=self._headers(route, request),
                allow_redirects=False,
            )
            try:
                async for payload in sse_payloads(resp, lambda: state.done):
                    piece = state.add(payload.decode("utf-8", "replace"))
                    if piece:
                        yield TextDelta(text=piece)
            finally:
                resp.release()  # an unfinished body closes the connection instead
        except BackendError:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise convert_aiohttp_error(exc) from None
        yield state.result()

    async def aclose(self) -> None:
        """Close the connection pools."""
        if self._h1 is not None:
            self._h1.close()
        if self._sessions is not None:
            await self._sessions.aclose()
