"""The ``openai`` backend: OpenAI, Azure OpenAI and any OpenAI-compatible chat server.

Uses the official SDK (imported when the backend is created, never at module import) with
its retries off and a generous timeout: the runner owns retries and timeouts. By default
the SDK only configures the calls (URL, Azure routing, auth and default headers) and each
call is one aiohttp POST (``openai_direct``); ``transport: aiohttp`` or ``httpx`` sends
every call through the SDK. Either way answers are read as raw JSON (orjson) rather than
SDK models, which is faster and lets a 200 with an error body, no choices, HTML or cut
JSON be reported as ``BadResponse``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from chatbot_tester.common.backends.base import (
    BackendOptions,
    ChatBackend,
    RetryDecision,
    default_classify,
)
from chatbot_tester.common.backends.http_status import check_http_url
from chatbot_tester.common.backends.openai_direct import (
    DirectTransport,
    SDKInternalsChanged,
    convert_aiohttp_error,
    is_aiohttp_error,
    sdk_authenticates_per_request,
)
from chatbot_tester.common.backends.openai_wire import (
    StreamAccumulator,
    openai_messages,
    parse_completion,
)
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
    ConfigError,
)

if TYPE_CHECKING:
    import httpx2
    import openai

__all__ = [
    "OpenAIBackend",
    "OpenAICompatibleOptions",
    "OpenAIOptions",
    "openai_messages",
    "parse_completion",
]

logger = logging.getLogger(__name__)

_TRANSPORT_OPTIONS = ("transport", "max_connections", "timeout_s")
"""Options that change how calls travel, not what they answer (left out of ``identity``)."""
_RESERVED = frozenset({"model", "messages", "tools", "stream", "stream_options"})


class OpenAICompatibleOptions(BackendOptions):
    """Options shared by the ``openai`` backend and the OpenAI-compatible presets."""

    base_url: str | None = None
    """API base URL, e.g. ``http://localhost:8000/v1`` for an OpenAI-compatible server (default: OpenAI)."""
    api_key: str | None = Field(default=None, repr=False)
    """API key; default: ``OPENAI_API_KEY`` (``AZURE_OPENAI_API_KEY`` for Azure) at creation."""
    headers: dict[str, str] = Field(default_factory=empty_dict)
    """Extra HTTP headers sent with each request."""
    transport: Literal["aiohttp-direct", "aiohttp", "httpx"] = "aiohttp-direct"
    """How calls are sent. ``aiohttp-direct`` (default, ~3x less CPU per call): the SDK derives
    the URL and headers once per model and each call is one POST on a shared aiohttp session,
    answers and event streams parsed by us; redirects are not followed. ``aiohttp`` / ``httpx``:
    every call goes through the SDK end to end, on aiohttp or on the SDK's httpx2. Clients that
    authenticate per request (e.g. an Azure AD token provider set by a subclass) always use
    the SDK path."""
    max_connections: int = Field(default=256, ge=1)
    """Size of the connection pool."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Whole-request limit of the HTTP client (SDK or aiohttp); kept generous because the
    runner enforces its own per-attempt timeout."""
    sample_id_header: str | None = None
    """When set (e.g. ``X-Sample-Id``), each request carries the sample id in this header."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value)


class OpenAIOptions(OpenAICompatibleOptions):
    """Options of the ``openai`` backend."""

    organization: str | None = None
    """OpenAI organization id sent with each request."""
    api_version: str | None = None
    """Azure OpenAI API version (setting this or ``azure_endpoint`` selects Azure)."""
    azure_endpoint: str | None = None
    """Azure OpenAI resource endpoint, e.g. ``https://my-resource.openai.azure.com``."""
    azure_deployment: str | None = None
    """Azure OpenAI deployment name (also the default model)."""

    @property
    def is_azure(self) -> bool:
        """True when Azure OpenAI settings are given."""
        return bool(self.azure_endpoint or self.api_version)

    @field_validator("azure_endpoint")
    @classmethod
    def _azure_url(cls, value: str | None) -> str | None:
        return check_http_url(value)


class OpenAIBackend(ChatBackend[OpenAIOptions]):
    """Chat Completions through the official ``openai`` SDK (OpenAI, Azure, compatible servers)."""

    Options = OpenAIOptions
    description = (
        "OpenAI, Azure OpenAI or any OpenAI-compatible Chat Completions API (official SDK)."
    )
    supports_streaming = True
    send_stream_options: ClassVar[bool] = True
    """Ask for the usage in the last stream chunk (``stream_options.include_usage``)."""
    usage_container: ClassVar[str | None] = None
    """Stream-chunk key whose object may carry the usage (see ``StreamAccumulator``)."""

    def __init__(self, options: OpenAIOptions) -> None:
        super().__init__(options)
        self.opts = options
        self._api_key = self._resolve_api_key(options) or "no-key"
        # For direct calls the SDK client only builds requests: no pool, no TLS context (~25 ms).
        self._config_only = options.transport == "aiohttp-direct"
        self._client = self._make_client()
        self._direct: DirectTransport | None = None
        if self._config_only and not sdk_authenticates_per_request(self._client):
            self._direct = DirectTransport(
                self._client,
                max_connections=options.max_connections,
                timeout_s=options.timeout_s,
                sample_id_header=options.sample_id_header,
            )
        elif self._config_only:
            self._use_sdk_transport()

    def _resolve_api_key(self, options: OpenAIOptions) -> str | None:
        """The key from the options or the OpenAI environment variables (required for OpenAI)."""
        env = (
            ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY") if options.is_azure else ("OPENAI_API_KEY",)
        )
        return api_key_from(
            options.api_key, env, backend="openai", required=options.base_url is None
        )

    def _accumulator(self) -> StreamAccumulator:
        return StreamAccumulator(usage_container=self.usage_container)

    def _use_sdk_transport(self) -> None:
        """Re-create the SDK client with a real connection pool (calls go through the SDK)."""
        self._config_only = False
        self._client = self._make_client()

    @property
    def transport(self) -> str:
        """The transport in use: ``aiohttp-direct``, or the SDK's (``aiohttp``/``httpx``)."""
        if self._direct is not None:
            return "aiohttp-direct"
        return "httpx" if self.opts.transport == "httpx" else "aiohttp"

    def _make_client(self) -> openai.AsyncOpenAI:
        """The SDK client; subclasses may override it (e.g. to pass an AD token provider)."""
        import httpx2
        import openai

        opts = self.opts
        limits = httpx2.Limits(
            max_connections=opts.max_connections, max_keepalive_connections=opts.max_connections
        )
        http_client: httpx2.AsyncClient
        if self._config_only:  # builds requests, never sends one
            http_client = httpx2.AsyncClient(
                transport=httpx2.AsyncBaseTransport(),
                trust_env=False,
                timeout=opts.timeout_s,
                follow_redirects=True,
            )
        elif opts.transport == "httpx":
            http_client = openai.DefaultAsyncHttpxClient(limits=limits, timeout=opts.timeout_s)
        else:
            http_client = openai.DefaultAioHttpClient(limits=limits, timeout=opts.timeout_s)
        common: dict[str, Any] = {
            "api_key": self._api_key,
            "organization": opts.organization,
            "default_headers": opts.headers or None,
            "max_retries": 0,
            "timeout": opts.timeout_s,
            "http_client": http_client,
        }
        if opts.is_azure:
            if not opts.api_version:
                raise ConfigError(
                    "backend 'openai': Azure needs options.api_version (e.g. 2024-10-21)"
                )
            where: dict[str, Any] = (
                {"azure_endpoint": opts.azure_endpoint, "azure_deployment": opts.azure_deployment}
                if opts.azure_endpoint
                else {"base_url": opts.base_url}
            )
            azure: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
                api_version=opts.api_version, **where, **common
            )
            return azure
        client: openai.AsyncOpenAI = openai.AsyncOpenAI(base_url=opts.base_url, **common)
        return client

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        model = request.model or self.opts.azure_deployment
        if not model:
            raise BackendError(
                "no model given: set 'model' in the pipeline's backend section",
                kind=ErrorKind.CONFIG,
                retryable=False,
            )
        body: dict[str, Any] = {k: v for k, v in request.params.items() if k not in _RESERVED}
        body["model"] = model
        body["messages"] = openai_messages(request.messages)
        if request.tools:
            body["tools"] = request.tools
        return body

    async def _post(
        self, request: ChatRequest, body: dict[str, Any], *, stream: bool
    ) -> httpx2.Response:
        """POST through the SDK (auth, routing, headers) and get the raw HTTP response."""
        return await sdk_post(
            self._client,
            "/chat/completions",
            request,
            body,
            sample_id_header=self.opts.sample_id_header,
            stream=stream,
        )

    async def prepare(self, request: ChatRequest) -> None:
        """Derive the direct route for the request's model through the SDK, outside timing."""
        if self._direct is None or not (request.model or self.opts.azure_deployment):
            return
        try:
            await self._direct.route_for(self._body(request)["model"])
        except SDKInternalsChanged as exc:
            await self._leave_direct(exc)

    async def send(self, request: ChatRequest) -> ChatResponse:
        """One Chat Completions call; SDK errors become redacted ``BackendError``s."""
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
        return parse_completion(data)

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """Stream a Chat Completion: text deltas, then the full response with usage."""
        body = self._body(request)
        body["stream"] = True
        if self.send_stream_options:
            body["stream_options"] = {"include_usage": True}
        if self._direct is not None:
            try:
                await self._direct.route_for(body["model"])
            except SDKInternalsChanged as exc:
                await self._leave_direct(exc)
        if self._direct is not None:
            items_gen = self._direct.stream(request, body, self._accumulator())
            async with aclosing(items_gen) as items:
                async for item in items:
                    yield item
            return
        acc = self._accumulator()
        try:
            response = await self._post(request, body, stream=True)
            try:
                # Read to the end even after [DONE], so the connection is reused.
                payloads = sdk_sse_payloads(response, lambda: acc.done)
                async with aclosing(payloads) as lines:
                    async for payload in lines:
                        if payload == "[DONE]":
                            acc.done = True
                            continue
                        delta = acc.add(payload)
                        if delta:
                            yield TextDelta(text=delta)
            finally:
                await response.aclose()
        except BackendError:
            raise
        except Exception as exc:
            raise self._convert(exc) from None
        yield acc.result()

    async def _leave_direct(self, exc: SDKInternalsChanged) -> None:
        """Use the SDK path from now on: this SDK version cannot configure direct calls."""
        if self._direct is None:
            return  # another call got here first
        logger.warning(
            "openai backend: the installed SDK cannot configure direct aiohttp calls (%s); "
            "sending through the SDK instead",
            exc,
        )
        direct, self._direct = self._direct, None
        config_client = self._client
        self._use_sdk_transport()
        await direct.aclose()
        await config_client.close()

    def _convert(self, exc: BaseException) -> BackendError:
        """Map an SDK or transport exception to our error hierarchy, with secrets redacted."""
        if isinstance(exc, BackendError):
            return exc
        if is_aiohttp_error(exc):
            return convert_aiohttp_error(exc)
        import httpx2
        import openai

        if isinstance(exc, openai.APIStatusError):
            return error_for_status(exc.status_code, exc.response.headers, exc.body)
        if isinstance(exc, openai.APITimeoutError):
            return BackendTimeout("request timed out")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {type(cause).__name__}: {snippet(str(cause), 120)}" if cause else ""
            return BackendConnectionError(f"connection failed{detail}")
        if isinstance(exc, httpx2.TimeoutException):
            return BackendTimeout("request timed out")
        if isinstance(exc, httpx2.TransportError):
            return BackendConnectionError(
                f"connection failed: {type(exc).__name__}: {snippet(str(exc), 120)}"
            )
        if isinstance(exc, openai.APIError):
            return BadResponse(f"bad response: {body_message(exc.body) or snippet(exc.message)}")
        if isinstance(exc, (ValueError, UnicodeDecodeError)):
            return BadResponse(
                f"unreadable response: {type(exc).__name__}: {snippet(str(exc), 120)}"
            )
        ec = default_classify(exc)
        return BackendError(snippet(ec.message), kind=ec.kind, retryable=ec.decision != "fatal")

    def identity(self) -> dict[str, Any]:
        """Options that decide the answers (secrets hashed); transport and pool settings do not."""
        data = super().identity()
        for name in _TRANSPORT_OPTIONS:
            data["options"].pop(name, None)
        return data

    def classify(self, exc: BaseException) -> RetryDecision:
        """Retry decision for an exception from ``send``/``stream`` (or a raw SDK exception)."""
        return default_classify(self._convert(exc))

    def needs_model(self) -> bool:
        """A model is required unless an Azure deployment names it."""
        return not self.opts.azure_deployment

    async def aclose(self) -> None:
        """Close the SDK client and the connection pools."""
        if self._direct is not None:
            await self._direct.aclose()
        await self._client.close()
