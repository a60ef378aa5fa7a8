"""The ``http`` backend: any JSON chatbot endpoint, configured in YAML, no code.

The request body is a Jinja2 template (sandboxed, ``StrictUndefined``) rendered per request;
the answer, session id, usage and tool calls are picked out of the JSON reply with JMESPath.
It talks aiohttp directly (one keep-alive session per backend, created inside the running
loop): the hot path renders one compiled template, makes one request and evaluates compiled
paths, with simple dotted paths such as ``choices[0].message.content`` evaluated without the
JMESPath interpreter.
"""

from __future__ import annotations

import hashlib
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit

import orjson
from pydantic import Field, field_validator

from chatbot_tester.common.backends.aio_session import LoopSession
from chatbot_tester.common.backends.base import BackendOptions, ChatBackend, RetryDecision
from chatbot_tester.common.backends.body_limit import read_aiohttp
from chatbot_tester.common.backends.h1 import H1Error, H1Pool
from chatbot_tester.common.backends.http_codec import (
    DEFAULT_BODY_TEMPLATE,
    PROBE_REQUEST,
    compile_path,
    compile_template,
    default_body,
    kind_name,
    parse_tool_calls,
    parse_usage,
    snippet,
    template_variables,
    tojson,
)
from chatbot_tester.common.backends.http_status import check_http_url, classify_status
from chatbot_tester.common.backends.http_stream import StreamFormat, StreamMode, read_stream
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import (
    AuthError,
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BadResponse,
    ConfigError,
    RateLimited,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import aiohttp
    from jinja2 import Template

__all__ = [
    "DEFAULT_BODY_TEMPLATE",
    "HTTPBackend",
    "HTTPOptions",
    "HTTPStatusError",
    "compile_path",
    "status_error",
]


_CONNECTION_ERRORS: tuple[type[BaseException], ...] = ()
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
"""The statuses aiohttp follows (with a ``Location``)."""


def _connection_errors() -> tuple[type[BaseException], ...]:
    """The connection and payload errors of aiohttp (imported on first use only)."""
    global _CONNECTION_ERRORS
    if not _CONNECTION_ERRORS:
        import aiohttp

        _CONNECTION_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)
    return _CONNECTION_ERRORS


class HTTPOptions(BackendOptions):
    """Options of the ``http`` backend."""

    url: str
    """Endpoint URL (http or https); may contain ``{{ session_id }}`` and other template variables."""
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    """HTTP method; GET sends no body."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers; values may be secrets written as ``${ENV_VAR}``."""
    body_template: str | None = None
    """Jinja2 template of the JSON body (default: an OpenAI chat-completions body); use ``| tojson`` for values."""
    response_path: str = "choices[0].message.content"
    """JMESPath to the answer text in the JSON reply."""
    session_id_path: str | None = None
    """JMESPath to a conversation id in the reply, carried into the next turn as ``session_id``."""
    usage_path: str | None = "usage"
    """JMESPath to an object with prompt/completion/total token counts (input/output also accepted)."""
    error_path: str | None = None
    """JMESPath that is non-null when the reply reports an error (then recorded as bad_response)."""
    tool_calls_path: str | None = "choices[0].message.tool_calls"
    """JMESPath to a list of tool calls (OpenAI shape or ``{name, arguments}``)."""
    finish_reason_path: str | None = "choices[0].finish_reason"
    """JMESPath to the finish reason."""
    max_connections: int = Field(default=1024, ge=1)
    """Size of the connection pool (keep-alive connections reused across requests)."""
    verify_tls: bool = True
    """Verify the server's TLS certificate."""
    stream: StreamMode | None = None
    """Read the reply as it arrives (with ``runner.stream: true`` this measures time to first
    token): ``sse`` (server-sent events; ``true`` means sse), ``ndjson`` (one JSON object per
    line) or ``chunked`` (raw text chunks). The default body then carries ``"stream": true``."""
    stream_path: str | None = "choices[0].delta.content"
    """JMESPath to the text delta in each streamed JSON event (sse, ndjson); null: each SSE
    event's data (or NDJSON string) is the text itself."""
    stream_done: str | None = None
    """Terminator, e.g. ``[DONE]``: an SSE event whose data or type equals it, an NDJSON line
    equal to it, or a marker ending a chunked body. When set, a stream that ends without it is
    ``truncated_stream``. An SSE ``data: [DONE]`` always ends a stream (required only when set)."""
    stream_done_path: str | None = None
    """JMESPath that is true on the last event (e.g. ``done`` for Ollama's ``/api/chat``); when
    set, a stream without such an event is ``truncated_stream``."""

    @field_validator("stream", mode="before")
    @classmethod
    def _stream_bool(cls, value: Any) -> Any:
        if value is True:
            return "sse"
        return None if value is False else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if "{{" in value or "{%" in value:  # templated: the scheme must still be literal
            if not value.startswith(("http://", "https://")):
                raise ValueError("must start with http:// or https://")
            return value
        checked = check_http_url(value)
        assert checked is not None
        return checked


class HTTPStatusError(BackendHTTPError):
    """A non-2xx reply; carries the shared status classification (``classify_status``)."""

    def __init__(self, error_class: RetryDecision) -> None:
        super().__init__(
            error_class.message,
            status_code=error_class.status_code,
            retry_after=error_class.retry_after,
            kind=error_class.kind,
            retryable=error_class.decision != "fatal",
        )
        self.error_class = error_class


class _RateLimitedStatus(HTTPStatusError, RateLimited):
    """A 429 reply (still an ``HTTPStatusError``)."""


class _AuthStatus(HTTPStatusError, AuthError):
    """A 401/403 reply (still an ``HTTPStatusError``)."""


def status_error(error_class: RetryDecision) -> HTTPStatusError:
    """The exception for a classified non-2xx reply (``RateLimited``/``AuthError`` when they apply)."""
    if error_class.kind is ErrorKind.RATE_LIMITED:
        return _RateLimitedStatus(error_class)
    if error_class.kind is ErrorKind.AUTH:
        return _AuthStatus(error_class)
    return HTTPStatusError(error_class)


class HTTPBackend(ChatBackend[HTTPOptions]):
    """Calls a JSON chat endpoint: templated body in, JMESPath-selected answer out."""

    Options = HTTPOptions
    description = (
        "any JSON chatbot endpoint: Jinja2 body template in, JMESPath answer out (aiohttp); "
        "streams SSE, NDJSON or chunked text with stream: sse|ndjson|chunked"
    )
    supports_streaming = True

    def __init__(
        self,
        options: HTTPOptions,
        *,
        connector_factory: Callable[[], aiohttp.BaseConnector] | None = None,
    ) -> None:
        """``connector_factory`` replaces the default connection pool (tests count connections)."""
        super().__init__(options)
        self._opts = options
        self._sends_body = options.method != "GET"
        # Without a body_template the default OpenAI body is built without Jinja (same JSON).
        self._body = (
            compile_template(options.body_template, "body_template")
            if options.body_template is not None and self._sends_body
            else None
        )
        self._url_template = (
            compile_template(options.url, "url", url=True) if "{{" in options.url else None
        )
        self._answer = compile_path(options.response_path, "response_path")
        self._session_path = (
            compile_path(options.session_id_path, "session_id_path")
            if options.session_id_path
            else None
        )
        self._usage_path = (
            compile_path(options.usage_path, "usage_path") if options.usage_path else None
        )
        self._error_path = (
            compile_path(options.error_path, "error_path") if options.error_path else None
        )
        self._tools_path = (
            compile_path(options.tool_calls_path, "tool_calls_path")
            if options.tool_calls_path
            else None
        )
        self._finish_path = (
            compile_path(options.finish_reason_path, "finish_reason_path")
            if options.finish_reason_path
            else None
        )
        self._stream = self._stream_format(options)
        accept = "text/event-stream" if options.stream == "sse" else "application/json"
        if options.stream in ("ndjson", "chunked"):
            accept = "*/*"
        self._headers = {"Content-Type": "application/json", "Accept": accept}
        self._headers.update(options.headers)
        self._secrets = [v for v in options.headers.values() if len(v) >= 6]
        self._register_secrets()
        parts = urlsplit(options.url)
        self._origin = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        self._netloc_origin = f"{parts.scheme}://{parts.netloc}"
        self._sessions = LoopSession(
            limit=options.max_connections,
            verify_tls=options.verify_tls,
            headers=self._headers,
            connector_factory=connector_factory,
        )
        # Non-streamed calls to a static URL skip aiohttp's client (see ``h1``); an injected
        # connector (tests counting connections) keeps every call on aiohttp.
        self._h1 = (
            H1Pool(
                options.url,
                headers=self._headers,
                limit=options.max_connections,
                verify_tls=options.verify_tls,
            )
            if connector_factory is None
            and self._url_template is None
            and self._stream is None
            and H1Pool.supports(options.url, self._headers)
            else None
        )
        self._check_template()

    # -- setup ----------------------------------------------------------------------------
    def _stream_format(self, options: HTTPOptions) -> StreamFormat | None:
        if options.stream is None:
            return None
        return StreamFormat(
            mode=options.stream,
            delta=compile_path(options.stream_path, "stream_path") if options.stream_path else None,
            delta_expr=options.stream_path,
            done=options.stream_done,
            done_path=(
                compile_path(options.stream_done_path, "stream_done_path")
                if options.stream_done_path
                else None
            ),
            usage=self._usage_path,
            finish=self._finish_path,
            error=self._error_path,
            error_expr=options.error_path,
            session=self._session_path,
        )

    def _register_secrets(self) -> None:
        from chatbot_tester.common.redact import register_secret

        for value in self._secrets:
            register_secret(value)

    def _check_template(self) -> None:
        """Render once with a probe request so a non-JSON template fails at creation."""
        if self._body is None:
            return
        from jinja2 import UndefinedError

        try:
            text = self._body.render(template_variables(PROBE_REQUEST))
        except UndefinedError:
            return  # depends on per-sample metadata; checked per request
        except Exception as exc:
            raise ConfigError(f"http.body_template: rendering failed: {exc}") from None
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(
                f"http.body_template does not render valid JSON ({exc}); "
                f"write values as {{{{ prompt | tojson }}}}. Rendered: {text[:200]}"
            ) from None

    # -- the hot path ---------------------------------------------------------------------
    def _prepare(self, request: ChatRequest) -> tuple[bytes | None, str]:
        """The request body and URL for ``request``."""
        body: bytes | None = None
        url = self._opts.url
        streamed = self._stream is not None
        if self._body is None and self._url_template is None:
            if self._sends_body:
                body = default_body(request, stream=streamed)
        else:
            variables = template_variables(request)
            if self._body is not None:
                body = self._render_body(variables, request)
            elif self._sends_body:
                body = default_body(request, stream=streamed)
            if self._url_template is not None:
                url = self._render(self._url_template, variables, "url", request)
        return body, url

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Render the body, call the endpoint and pick the answer out of the JSON reply."""
        if self._stream is not None:
            final: ChatResponse | None = None
            async for item in self.stream(request):
                if isinstance(item, ChatResponse):
                    final = item
            assert final is not None
            return final
        body, url = self._prepare(request)
        if self._h1 is not None:
            try:
                reply = await self._h1.request(self._opts.method, body)
            except H1Error as exc:
                raise self._connection_error(exc) from None
            status = reply.status
            location = reply.headers.get("Location")
            if status not in _REDIRECTS or not location:
                if status >= 300:
                    raise status_error(self._status_class(status, reply.headers, reply.body))
                return self._parse(reply.body, reply.headers.get("Content-Type", ""), request)
            return await self._follow(status, urljoin(url, location), body, request)
        return await self._send_aiohttp(self._opts.method, url, body, request)

    async def _follow(
        self, status: int, url: str, body: bytes | None, request: ChatRequest
    ) -> ChatResponse:
        """Follow a lean-path redirect through aiohttp, which follows any further ones.

        The method changes as aiohttp changes it: 303, and 301/302 after a POST, become a GET.
        Only within the origin: the headers (often an API key) never go to another host.
        """
        target = urlsplit(url)
        if f"{target.scheme}://{target.netloc}" != self._netloc_origin:
            raise BadResponse(
                f"the endpoint redirects ({status}) to another origin, "
                f"{target.scheme}://{target.hostname}; not followed: set http.url to the final URL"
            )
        method = self._opts.method
        if status == 303 or (status in (301, 302) and method == "POST"):
            method, body = "GET", None
        return await self._send_aiohttp(method, url, body, request)

    async def _send_aiohttp(
        self, method: str, url: str, body: bytes | None, request: ChatRequest
    ) -> ChatResponse:
        session = self._sessions.get()
        try:
            async with session.request(method, url, data=body) as resp:
                raw = await read_aiohttp(resp)
                status = resp.status
                if status >= 300:
                    raise status_error(self._status_class(status, resp.headers, raw))
                content_type = resp.headers.get("Content-Type", "")
        except _connection_errors() as exc:
            raise self._connection_error(exc) from None
        return self._parse(raw, content_type, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """With ``stream`` set: text deltas as the reply arrives, then the full response."""
        fmt = self._stream
        if fmt is None:
            yield await self.send(request)
            return
        body, url = self._prepare(request)
        session = self._sessions.get()
        try:
            async with session.request(self._opts.method, url, data=body) as resp:
                if resp.status >= 300:
                    raw = await read_aiohttp(resp)
                    raise status_error(self._status_class(resp.status, resp.headers, raw))
                async with aclosing(read_stream(fmt, resp, request.session_id)) as items:
                    async for item in items:
                        yield item
        except _connection_errors() as exc:
            raise self._connection_error(exc) from None

    def streams(self) -> bool:
        """True when ``stream`` is set (otherwise one JSON reply, no time to first token)."""
        return self._stream is not None

    def _connection_error(self, exc: BaseException) -> BackendConnectionError:
        detail = self._redact(str(exc)) or type(exc).__name__
        return BackendConnectionError(f"connection to {self._origin} failed: {detail}")

    def _render(
        self, template: Template, variables: dict[str, Any], option: str, request: ChatRequest
    ) -> str:
        try:
            return template.render(variables)
        except Exception as exc:
            raise BackendError(
                f"http.{option} failed for sample {request.sample_id!r}: {exc}",
                kind=ErrorKind.CONFIG,
                retryable=False,
            ) from None

    def _render_body(self, variables: dict[str, Any], request: ChatRequest) -> bytes:
        assert self._body is not None
        text = self._render(self._body, variables, "body_template", request)
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BackendError(
                f"http.body_template rendered invalid JSON for sample {request.sample_id!r} ({exc}); "
                "write values as {{ prompt | tojson }}",
                kind=ErrorKind.CONFIG,
                retryable=False,
            ) from None
        return text.encode()

    def _parse(self, raw: bytes, content_type: str, request: ChatRequest) -> ChatResponse:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            head = raw.lstrip()[:15].lower()
            if "html" in content_type or head.startswith((b"<!doctype", b"<html")):
                raise BadResponse(
                    f"the endpoint returned an HTML page, not JSON ({snippet(raw, 80)}); check http.url"
                ) from None
            raise BadResponse(
                f"the response is not JSON: {snippet(raw)!r}; check http.url"
            ) from None
        if self._error_path is not None:
            error = self._error_path(data)
            if error is not None and error is not False:
                detail = error if isinstance(error, str) else tojson(error)
                raise BadResponse(
                    f"the endpoint reported an error at error_path {self._opts.error_path!r}: {detail[:200]}"
                )
        text = self._answer(data)
        tool_calls = (
            parse_tool_calls(self._tools_path(data)) if self._tools_path is not None else []
        )
        if not isinstance(text, str):
            if text is None and tool_calls:
                text = ""
            elif text is None:
                raise BadResponse(
                    f"response_path {self._opts.response_path!r} matched nothing in the response "
                    f"{snippet(raw, 120)!r}; set http.response_path"
                )
            else:
                raise BadResponse(
                    f"response_path {self._opts.response_path!r} matched {kind_name(text)}, not a string; "
                    "set http.response_path to the answer text"
                )
        fields: dict[str, Any] = {"text": text, "raw": data}
        if tool_calls:
            fields["tool_calls"] = tool_calls
        if self._finish_path is not None:
            finish = self._finish_path(data)
            if isinstance(finish, str):
                fields["finish_reason"] = finish
        if self._usage_path is not None:
            usage = parse_usage(self._usage_path(data))
            if usage is not None:
                fields["usage"] = usage
        session_id = request.session_id
        if self._session_path is not None:
            found = self._session_path(data)
            if found is not None and not isinstance(found, (dict, list)):
                session_id = str(found)
        if session_id is not None:
            fields["session_id"] = session_id
        # Validated like ChatResponse(**fields), minus the Python-level __init__ frame.
        response: ChatResponse = ChatResponse.__pydantic_validator__.validate_python(fields)
        return response

    # -- errors ---------------------------------------------------------------------------
    def _status_class(self, status: int, headers: Any, raw: bytes) -> RetryDecision:
        body = self._redact(snippet(raw))
        return classify_status(status, headers, body)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        from chatbot_tester.common.redact import redact

        return redact(text)

    def classify(self, exc: BaseException) -> RetryDecision:
        """HTTP statuses use the shared ``classify_status``; everything else the default."""
        if isinstance(exc, HTTPStatusError):
            return exc.error_class
        return super().classify(exc)

    def identity(self) -> dict[str, Any]:
        """Options with header values hashed (they often hold API keys)."""
        data = super().identity()
        headers = data["options"].get("headers") or {}
        data["options"]["headers"] = {
            key: "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]
            for key, value in headers.items()
        }
        return data

    async def aclose(self) -> None:
        """Close the connection pools."""
        if self._h1 is not None:
            self._h1.close()
        await self._sessions.aclose()
