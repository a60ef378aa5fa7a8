"""The ``anthropic`` backend: Claude models through the official SDK's Messages API.

The SDK (extra ``anthropic``) is imported when the backend is created; its retries are off
and its timeout generous because the runner owns both. ``transport: aiohttp-direct`` lets
the SDK configure the calls and sends each as one aiohttp POST (``anthropic_direct``). System messages become ``system``;
OpenAI-style tools and tool calls are translated both ways.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from chatbot_tester.common.backends.anthropic_direct import (
    AnthropicDirect,
    anthropic_authenticates_per_request,
)
from chatbot_tester.common.backends.anthropic_wire import (
    StreamState,
    anthropic_payload,
    parse_message,
)
from chatbot_tester.common.backends.base import (
    BackendOptions,
    ChatBackend,
    RetryDecision,
    default_classify,
)
from chatbot_tester.common.backends.direct_http import SDKInternalsChanged
from chatbot_tester.common.backends.http_status import check_http_url
from chatbot_tester.common.backends.sdk_common import (
    api_key_from,
    body_message,
    error_for_status,
    snippet,
)
from chatbot_tester.common.backends.sdk_http import sdk_json, sdk_post, sdk_sse_payloads
from chatbot_tester.common.schemas import (
    ChatRequest,
    ChatResponse,
    TextDelta,
)
from chatbot_tester.common.types import ErrorKind, empty_dict
from chatbot_tester.errors import (
    BackendConnectionError,
    BackendError,
    BackendTimeout,
    BadResponse,
    PluginError,
)

if TYPE_CHECKING:
    import anthropic
    import httpx2

__all__ = ["AnthropicBackend", "AnthropicOptions", "anthropic_payload"]

logger = logging.getLogger(__name__)

MISSING_EXTRA = (
    "backend 'anthropic' needs the 'anthropic' extra: pip install 'chatbot-tester[anthropic]'"
)


class AnthropicOptions(BackendOptions):
    """Options of the ``anthropic`` backend."""

    base_url: str | None = None
    """API base URL without ``/v1`` (default: https://api.anthropic.com)."""
    api_key: str | None = Field(default=None, repr=False)
    """API key; default: ``ANTHROPIC_API_KEY`` at creation."""
    headers: dict[str, str] = Field(default_factory=empty_dict)
    """Extra HTTP headers sent with each request (e.g. ``anthropic-beta``)."""
    max_tokens: int = Field(default=1024, ge=1)
    """``max_tokens`` when the request's params do not set it (the API requires one)."""
    transport: Literal["aiohttp", "httpx", "aiohttp-direct"] = "aiohttp"
    """``aiohttp`` / ``httpx``: every call through the SDK, on aiohttp or the SDK's httpx2.
    ``aiohttp-direct`` (~4x less client CPU per call): the SDK derives the URL and headers
    once and each call is one POST on a shared aiohttp session, parsed by us; redirects are
    not followed; clients that authenticate per request stay on the SDK path."""
    max_connections: int = Field(default=256, ge=1)
    """Size of the connection pool."""
    timeout_s: float = Field(default=600.0, gt=0)
    """SDK-level timeout; kept generous because the runner enforces its own per-attempt timeout."""
    sample_id_header: str | None = None
    """When set (e.g. ``X-Sample-Id``), each request carries the sample id in this header."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value)


class AnthropicBackend(ChatBackend[AnthropicOptions]):
    """Claude through the official ``anthropic`` SDK (Messages API, streaming supported)."""

    Options = AnthropicOptions
    description = "Anthropic Messages API (Claude) through the official SDK (extra: anthropic)."
    supports_streaming = True
    requires_extra = "anthropic"

    def __init__(self, options: AnthropicOptions) -> None:
        super().__init__(options)
        self.opts = options
        try:
            import anthropic
        except ImportError:
            raise PluginError(MISSING_EXTRA) from None
        key = api_key_from(
            options.api_key,
            ("ANTHROPIC_API_KEY",),
            backend="anthropic",
            required=options.base_url is None,
        )
        self._client = self._make_client(anthropic, key or "no-key")
        self._direct: AnthropicDirect | None = None
        if options.transport == "aiohttp-direct" and not anthropic_authenticates_per_request(
            self._client
        ):
            self._direct = AnthropicDirect(
                self._client,
                max_connections=options.max_connections,
                timeout_s=options.timeout_s,
                sample_id_header=options.sample_id_header,
            )

    @property
    def transport(self) -> str:
        """The transport in use: ``aiohttp-direct``, or the SDK's (``aiohttp``/``httpx``)."""
        if self._direct is not None:
            return "aiohttp-direct"
        return "httpx" if self.opts.transport == "httpx" else "aiohttp"

    def _make_client(self, sdk: Any, key: str) -> anthropic.AsyncAnthropic:
        import httpx2

        opts = self.opts
        limits = httpx2.Limits(
            max_connections=opts.max_connections, max_keepalive_connections=opts.max_connections
        )
        http_cls = (
            sdk.DefaultAsyncHttpxClient if opts.transport == "httpx" else sdk.DefaultAioHttpClient
        )
        base = opts.base_url.rstrip("/") if opts.base_url else None
        if base and base.endswith("/v1"):
            base = base[:-3]
        client: anthropic.AsyncAnthropic = sdk.AsyncAnthropic(
            api_key=key,
            base_url=base,
            default_headers=opts.headers or None,
            max_retries=0,
            timeout=opts.timeout_s,
            http_client=http_cls(limits=limits, timeout=opts.timeout_s),
        )
        return client

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        if not request.model:
            raise BackendError(
                "no model given: set 'model' in the pipeline's backend section",
                kind=ErrorKind.CONFIG,
                retryable=False,
            )
        return anthropic_payload(request, default_max_tokens=self.opts.max_tokens)

    async def _post(
        self, request: ChatRequest, body: dict[str, Any], *, stream: bool
    ) -> httpx2.Response:
        """POST through the SDK (auth, routing, headers) and get the raw HTTP response."""
        return await sdk_post(
            self._client,
            "/v1/messages",
            request,
            body,
            sample_id_header=self.opts.sample_id_header,
            stream=stream,
        )

    async def send(self, request: ChatRequest) -> ChatResponse:
        """One Messages API call; SDK errors become redacted ``BackendError``s."""
        body = self._body(request)
        if self._direct is not None:
            try:
                return await self._direct.send(request, body)
            except SDKInternalsChanged as exc:
                await self._leave_direct(exc)
        try:
            data = await sdk_json(await self._post(request, body, stream=True))
        except BackendError:
            raise
        except Exception as exc:
            raise self._convert(exc) from None
        return parse_message(data)

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """Stream a Messages API answer: text deltas, then the full response with usage."""
        body = self._body(request)
        body["stream"] = True
        if self._direct is not None:
            try:
                await self._direct.route()
            except SDKInternalsChanged as exc:
                await self._leave_direct(exc)
        if self._direct is not None:
            async with aclosing(self._direct.stream(request, body)) as items:
                async for item in items:
                    yield item
            return
        state = StreamState()
        try:
            response = await self._post(request, body, stream=True)
            try:
                # Read to the end even after message_stop, so the connection is reused.
                payloads = sdk_sse_payloads(response, lambda: state.done)
                async with aclosing(payloads) as lines:
                    async for payload in lines:
                        piece = state.add(payload)
                        if piece:
                            yield TextDelta(text=piece)
            finally:
                await response.aclose()
        except BackendError:
            raise
        except Exception as exc:
            raise self._convert(exc) from None
        yield state.result()

    async def prepare(self, request: ChatRequest) -> None:
        """Derive the direct route through the SDK, outside timing."""
        if self._direct is not None:
            try:
                await self._direct.route()
            except SDKInternalsChanged as exc:
                await self._leave_direct(exc)

    async def _leave_direct(self, exc: SDKInternalsChanged) -> None:
        """Use the SDK path from now on: this SDK version cannot configure direct calls."""
        if self._direct is None:
            return  # another call got here first
        logger.warning(
            "anthropic backend: the installed SDK cannot configure direct aiohttp calls (%s); "
            "sending through the SDK instead",
            exc,
        )
        direct, self._direct = self._direct, None
        await direct.aclose()

    def _convert(self, exc: BaseException) -> BackendError:
        """Map an SDK or transport exception to our error hierarchy, with secrets redacted."""
        import anthropic
        import httpx2

        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, anthropic.APIStatusError):
            return error_for_status(exc.status_code, exc.response.headers, exc.body)
        if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
            return BackendTimeout("request timed out")
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {type(cause).__name__}: {snippet(str(cause), 120)}" if cause else ""
            return BackendConnectionError(f"connection failed{detail}")
        if isinstance(exc, httpx2.TransportError):
            return BackendConnectionError(
                f"connection failed: {type(exc).__name__}: {snippet(str(exc), 120)}"
            )
        if isinstance(exc, anthropic.APIError):
            return BadResponse(f"bad response: {body_message(exc.body) or snippet(exc.message)}")
        if isinstance(exc, (ValueError, UnicodeDecodeError)):
            return BadResponse(
                f"unreadable response: {type(exc).__name__}: {snippet(str(exc), 120)}"
            )
        ec = default_classify(exc)
        return BackendError(snippet(ec.message), kind=ec.kind, retryable=ec.decision != "fatal")

    def classify(self, exc: BaseException) -> RetryDecision:
        """Retry decision for an exception from ``send``/``stream`` (or a raw SDK exception)."""
        return default_classify(self._convert(exc))

    def needs_model(self) -> bool:
        """The Messages API always needs a model."""
        return True

    async def aclose(self) -> None:
        """Close the SDK client and the connection pools."""
        if self._direct is not None:
            await self._direct.aclose()
        await self._client.close()
