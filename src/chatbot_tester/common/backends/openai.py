"""The ``openai`` backend: OpenAI, Azure OpenAI and any OpenAI-compatible chat server.

Uses the official SDK (imported when the backend is created, never at module import) with
its retries off and a generous timeout: the runner owns retries and timeouts. Answers are
read as raw JSON (orjson) rather than SDK models, which is faster and lets a 200 with an
error body, no choices, HTML or cut JSON be reported as ``BadResponse``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field

from chatbot_tester.common.backends.base import (
    BackendOptions,
    ChatBackend,
    ErrorClass,
    default_classify,
)
from chatbot_tester.common.backends.sdk_common import (
    api_key_from,
    body_message,
    error_for_status,
    parse_arguments,
    snippet,
)
from chatbot_tester.common.schemas import (
    ChatRequest,
    ChatResponse,
    Message,
    TextDelta,
    ToolCall,
    Usage,
)
from chatbot_tester.common.types import ErrorKind
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

__all__ = ["OpenAIBackend", "OpenAIOptions", "openai_messages"]

_RESERVED = frozenset({"model", "messages", "tools", "stream", "stream_options"})


class OpenAIOptions(BackendOptions):
    """Options of the ``openai`` backend."""

    base_url: str | None = None
    """API base URL, e.g. ``http://localhost:8000/v1`` for an OpenAI-compatible server (default: OpenAI)."""
    api_key: str | None = Field(default=None, repr=False)
    """API key; default: ``OPENAI_API_KEY`` (``AZURE_OPENAI_API_KEY`` for Azure) at creation."""
    organization: str | None = None
    """OpenAI organization id sent with each request."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with each request."""
    api_version: str | None = None
    """Azure OpenAI API version (setting this or ``azure_endpoint`` selects Azure)."""
    azure_endpoint: str | None = None
    """Azure OpenAI resource endpoint, e.g. ``https://my-resource.openai.azure.com``."""
    azure_deployment: str | None = None
    """Azure OpenAI deployment name (also the default model)."""
    transport: Literal["aiohttp", "httpx"] = "aiohttp"
    """HTTP client under the SDK: aiohttp (faster at high concurrency) or the SDK's httpx2."""
    max_connections: int = Field(default=256, ge=1)
    """Size of the connection pool."""
    timeout_s: float = Field(default=600.0, gt=0)
    """SDK-level timeout; kept generous because the runner enforces its own per-attempt timeout."""
    sample_id_header: str | None = None
    """When set (e.g. ``X-Sample-Id``), each request carries the sample id in this header."""

    @property
    def is_azure(self) -> bool:
        """True when Azure OpenAI settings are given."""
        return bool(self.azure_endpoint or self.api_version)


def openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our messages in the Chat Completions wire format."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.name is not None:
            item["name"] = m.name
        if m.tool_call_id is not None:
            item["tool_call_id"] = m.tool_call_id
        if m.tool_calls:
            item["tool_calls"] = [
                {
                    "id": c.id or f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.arguments
                        if isinstance(c.arguments, str)
                        else orjson.dumps(c.arguments).decode(),
                    },
                }
                for i, c in enumerate(m.tool_calls)
            ]
        out.append(item)
    return out


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    details = data.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=data.get("prompt_tokens"),
        completion_tokens=data.get("completion_tokens"),
        total_tokens=data.get("total_tokens"),
        cached_tokens=cached,
    )


def parse_completion(data: Any) -> ChatResponse:
    """A ``chat.completion`` JSON object as a ``ChatResponse``; ``BadResponse`` when unusable."""
    if not isinstance(data, dict):
        raise BadResponse(f"response is not a JSON object: {snippet(str(data), 80)}")
    if data.get("error") is not None:
        raise BadResponse(f"error in a 200 response: {body_message(data)}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadResponse("response has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    calls = [
        ToolCall(
            id=c.get("id"),
            name=(c.get("function") or {}).get("name", ""),
            arguments=parse_arguments((c.get("function") or {}).get("arguments")),
        )
        for c in message.get("tool_calls") or []
    ]
    return ChatResponse(
        text=message.get("content") or "",
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        usage=_usage(data.get("usage")),
        model=data.get("model"),
        raw=data,
    )


class _StreamAccumulator:
    """Collects streamed ``chat.completion.chunk`` events into one ``ChatResponse``."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.chunks = 0

    def add(self, payload: str) -> str:
        """Take one ``data:`` payload; return its new text ('' when none)."""
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise BadResponse(f"invalid JSON in a stream event: {snippet(payload, 80)}") from None
        if not isinstance(chunk, dict):
            raise BadResponse(f"unexpected stream event: {snippet(payload, 80)}")
        if chunk.get("error") is not None:
            raise BadResponse(f"error in the stream: {body_message(chunk)}")
        self.chunks += 1
        self.model = chunk.get("model") or self.model
        self.id = chunk.get("id") or self.id
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        new = ""
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
                new += content
            for tc in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(
                    tc.get("index", 0), {"id": None, "name": "", "arguments": ""}
                )
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            self.finish = choice.get("finish_reason") or self.finish
        return new

    def result(self) -> ChatResponse:
        """The complete response; ``BadResponse`` when the stream carried no event."""
        if self.chunks == 0:
            raise BadResponse("the stream ended without any data")
        calls = [
            ToolCall(id=c["id"], name=c["name"], arguments=parse_arguments(c["arguments"]))
            for _, c in sorted(self.calls.items())
        ]
        return ChatResponse(
            text="".join(self.text),
            tool_calls=calls,
            finish_reason=self.finish,
            usage=self.usage,
            model=self.model,
            raw={
                "id": self.id,
                "object": "chat.completion",
                "model": self.model,
                "streamed_chunks": self.chunks,
            },
        )


class OpenAIBackend(ChatBackend):
    """Chat Completions through the official ``openai`` SDK (OpenAI, Azure, compatible servers)."""

    Options = OpenAIOptions
    description = (
        "OpenAI, Azure OpenAI or any OpenAI-compatible Chat Completions API (official SDK)."
    )
    supports_streaming = True

    def __init__(self, options: BackendOptions) -> None:
        assert isinstance(options, OpenAIOptions)
        super().__init__(options)
        self.opts = options
        env = (
            ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY") if options.is_azure else ("OPENAI_API_KEY",)
        )
        key = api_key_from(
            options.api_key, env, backend="openai", required=options.base_url is None
        )
        self._api_key = key or "no-key"
        self._client = self._make_client()

    def _make_client(self) -> openai.AsyncOpenAI:
        import httpx2
        import openai

        opts = self.opts
        limits = httpx2.Limits(
            max_connections=opts.max_connections, max_keepalive_connections=opts.max_connections
        )
        http_cls = (
            openai.DefaultAioHttpClient
            if opts.transport == "aiohttp"
            else openai.DefaultAsyncHttpxClient
        )
        http_client = http_cls(limits=limits, timeout=opts.timeout_s)
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
        """POST through the SDK (auth, Azure routing, headers) and get the raw HTTP response.

        The body is sent as given, skipping the SDK's typed parameter transform (a third of
        its CPU per call): parameters pass through unchanged, new ones included.
        """
        import httpx2

        options: dict[str, Any] = {}
        if self.opts.sample_id_header and request.sample_id:
            options["headers"] = {self.opts.sample_id_header: request.sample_id}
        post: Any = self._client.post  # its overloads cannot express cast_to=httpx2.Response
        response = await post(
            "/chat/completions", cast_to=httpx2.Response, body=body, options=options, stream=stream
        )
        assert isinstance(response, httpx2.Response)
        return response

    async def send(self, request: ChatRequest) -> ChatResponse:
        """One Chat Completions call; SDK errors become redacted ``BackendError``s."""
        body = self._body(request)
        try:
            response = await self._post(request, body, stream=False)
            content = response.content
        except Exception as exc:
            raise self._convert(exc) from None
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type:
            text = snippet(content.decode("utf-8", "replace"), 80)
            raise BadResponse(f"non-JSON response ({content_type or 'no content type'}): {text}")
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise BadResponse(f"invalid JSON in the response ({len(content)} bytes)") from None
        return parse_completion(data)

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """Stream a Chat Completion: text deltas, then the full response with usage."""
        body = self._body(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        acc = _StreamAccumulator()
        try:
            response = await self._post(request, body, stream=True)
            try:
                content_type = response.headers.get("content-type", "")
                if "event-stream" not in content_type:
                    text = snippet((await response.aread()).decode("utf-8", "replace"), 80)
                    kind = content_type or "no content type"
                    raise BadResponse(f"expected an event stream, got {kind}: {text}")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, event names
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
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

    def _convert(self, exc: BaseException) -> BackendError:
        """Map an SDK or transport exception to our error hierarchy, with secrets redacted."""
        import httpx2
        import openai

        if isinstance(exc, BackendError):
            return exc
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

    def classify(self, exc: BaseException) -> ErrorClass:
        """Retry decision for an exception from ``send``/``stream`` (or a raw SDK exception)."""
        return default_classify(self._convert(exc))

    async def aclose(self) -> None:
        """Close the SDK client and its connection pool."""
        await self._client.close()
