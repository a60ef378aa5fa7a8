"""The ``litellm`` backend: any provider LiteLLM speaks (Bedrock, Vertex/Gemini, Cohere, ...).

Calls go through ``litellm.acompletion`` with LiteLLM's own retries off (the runner owns
retries). LiteLLM is slow to import, so it is imported in a worker thread by ``start``,
before the first call is timed; creating the backend only checks that the extra is
installed. Its price map is read from the copy it ships (``LITELLM_LOCAL_MODEL_COST_MAP``
defaults to true here: we fetch nothing at import); usage and cost come from its response.
LiteLLM's exceptions are mapped to our errors, so rate limits, timeouts, connection faults
and 5xx are retried while bad keys, bad requests and unknown models stop the run early.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from pydantic import Field, field_validator

from chatbot_tester.common.backends.abandon import run_in_daemon_thread
from chatbot_tester.common.backends.base import (
    BackendOptions,
    ChatBackend,
    RetryDecision,
    default_classify,
)
from chatbot_tester.common.backends.http_status import check_http_url
from chatbot_tester.common.backends.openai_wire import (
    StreamAccumulator,
    openai_messages,
    parse_completion,
)
from chatbot_tester.common.backends.sdk_common import error_for_status, snippet
from chatbot_tester.common.redact import looks_secret_name, register_secret
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta
from chatbot_tester.common.types import ErrorKind, empty_dict
from chatbot_tester.errors import (
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendTimeout,
    BadResponse,
    PluginError,
)

__all__ = ["LiteLLMBackend", "LiteLLMOptions"]

MISSING_EXTRA = "backend 'litellm' needs the 'litellm' extra: pip install 'chatbot-tester[litellm]'"
_RESERVED = frozenset({"model", "messages", "tools", "stream", "stream_options"})


class LiteLLMOptions(BackendOptions):
    """Options of the ``litellm`` backend (the model, e.g. ``bedrock/...``, is ``runner.model``)."""

    api_base: str | None = None
    """Base URL of the provider or of an OpenAI-compatible server (``openai/<model>``)."""
    api_key: str | None = Field(default=None, repr=False)
    """API key; default: the provider's usual environment variable, read by LiteLLM."""
    headers: dict[str, str] = Field(default_factory=empty_dict)
    """Extra HTTP headers sent with each request."""
    extra: dict[str, Any] = Field(default_factory=empty_dict)
    """More keyword arguments for ``litellm.acompletion`` (``aws_region_name``, ``vertex_project``...)."""
    mock_response: str | None = None
    """Answer every request with this text without calling any provider (LiteLLM's mock)."""
    timeout_s: float = Field(default=600.0, gt=0)
    """LiteLLM's own timeout; generous because the runner enforces a per-attempt one."""

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value)


def _import_litellm() -> Any:
    """Import LiteLLM quietly: local price map, no debug banners (runs in a worker thread)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _headers_of(exc: BaseException) -> Mapping[str, str]:
    """The error's response headers (Retry-After), wherever this LiteLLM version keeps them."""
    merged: dict[str, str] = {}
    response = getattr(exc, "response", None)
    for source in (
        getattr(exc, "litellm_response_headers", None),
        getattr(response, "headers", None),
        getattr(exc, "headers", None),
    ):
        if isinstance(source, Mapping):
            for key, value in source.items():
                merged.setdefault(str(key).lower(), str(value))
    return merged


class LiteLLMBackend(ChatBackend[LiteLLMOptions]):
    """Any LiteLLM provider through ``litellm.acompletion`` (streaming supported)."""

    Options = LiteLLMOptions
    description = (
        "any LiteLLM provider (Bedrock, Vertex/Gemini, Cohere, ...) via litellm.acompletion"
    )
    supports_streaming = True
    requires_extra = "litellm"

    def __init__(self, options: LiteLLMOptions) -> None:
        super().__init__(options)
        try:
            found = importlib.util.find_spec("litellm") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise PluginError(MISSING_EXTRA)
        if options.api_key:
            register_secret(options.api_key)
        for key, value in options.extra.items():  # aws_secret_access_key and the like
            if isinstance(value, str) and value and looks_secret_name(key):
                register_secret(value)
        self._litellm: Any = None

    async def start(self) -> None:
        """Import LiteLLM in a worker thread (seconds), before the first call is timed."""
        if self._litellm is None:
            self._litellm = await run_in_daemon_thread(_import_litellm)

    def needs_model(self) -> bool:
        """LiteLLM routes by the model name (``provider/model``)."""
        return True

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        if not request.model:
            raise BackendError(
                "no model given: set 'model' in the pipeline's backend section "
                "(e.g. bedrock/anthropic.claude-3-haiku-20240307-v1:0)",
                kind=ErrorKind.CONFIG,
                retryable=False,
            )
        opts = self.options
        kwargs: dict[str, Any] = {
            k: v for k, v in request.params.items() if k not in _RESERVED and v is not None
        }
        kwargs.update(opts.extra)
        kwargs.update(
            model=request.model,
            messages=openai_messages(request.messages),
            num_retries=0,
            max_retries=0,
            timeout=opts.timeout_s,
        )
        if request.tools:
            kwargs["tools"] = request.tools
        if opts.api_base:
            kwargs["api_base"] = opts.api_base
        if opts.api_key:
            kwargs["api_key"] = opts.api_key
        if opts.headers:
            kwargs["extra_headers"] = opts.headers
        if opts.mock_response is not None:
            kwargs["mock_response"] = opts.mock_response
        return kwargs

    async def send(self, request: ChatRequest) -> ChatResponse:
        """One ``acompletion`` call; usage and cost from LiteLLM's response."""
        await self.start()
        kwargs = self._kwargs(request)
        try:
            response = await self._litellm.acompletion(**kwargs)
            data = response.model_dump()
        except Exception as exc:
            raise self._convert(exc) from None
        result = parse_completion(data)
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        if not isinstance(cost, (int, float)):
            cost = self._cost(request.model, result)
        return result.model_copy(update={"cost_usd": cost})

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """Stream the answer: text deltas, then the full response (usage from the last chunk)."""
        await self.start()
        kwargs = self._kwargs(request)
        kwargs.update(stream=True, stream_options={"include_usage": True})
        acc = StreamAccumulator()
        cost: float | None = None
        try:
            stream = await self._litellm.acompletion(**kwargs)
            async for chunk in stream:
                data = chunk.model_dump(exclude_none=True)
                usage = data.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("cost"), (int, float)):
                    cost = float(usage["cost"])
                piece = acc.add(orjson.dumps(data))
                if piece:
                    yield TextDelta(text=piece)
        except BackendError:
            raise
        except Exception as exc:
            raise self._convert(exc) from None
        acc.done = True  # LiteLLM ends the iteration at the provider's terminator
        result = acc.result()
        if cost is None:
            cost = self._cost(request.model, result)
        yield result.model_copy(update={"cost_usd": cost})

    def _cost(self, model: str | None, response: ChatResponse) -> float | None:
        """LiteLLM's price of the usage, or ``None`` when it does not know the model."""
        usage = response.usage
        if usage is None or usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        try:
            prompt, completion = self._litellm.cost_per_token(
                model=model or "",
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            )
        except Exception:  # an unmapped model: our price table (or no cost) instead
            return None
        return float(prompt) + float(completion)

    def _convert(self, exc: BaseException) -> BackendError:
        """Map a LiteLLM (or transport) exception to our error hierarchy, secrets redacted."""
        if isinstance(exc, BackendError):
            return exc
        lib = self._litellm
        message = snippet(str(getattr(exc, "message", None) or exc))
        if lib is not None:
            if isinstance(exc, lib.Timeout):
                return BackendTimeout(f"request timed out: {message}")
            if isinstance(exc, lib.APIConnectionError):
                return BackendConnectionError(f"connection failed: {message}")
            if isinstance(exc, (lib.ContextWindowExceededError, lib.ContentPolicyViolationError)):
                return BackendHTTPError(message, status_code=_status_of(exc) or 400)
            bad_request = isinstance(exc, (lib.UnsupportedParamsError, lib.BadRequestError))
            if bad_request and (_status_of(exc) or 400) == 400:
                # The same for every request (a bad param, model or setup): stop early.
                return BackendHTTPError(
                    f"HTTP 400: {message}", status_code=400, kind=ErrorKind.CONFIG
                )
        status = _status_of(exc)
        if status is not None and status >= 400:
            return error_for_status(status, _headers_of(exc), message)
        if isinstance(exc, (ValueError, UnicodeDecodeError)):
            return BadResponse(f"unreadable response: {type(exc).__name__}: {message}")
        ec = default_classify(exc)
        return BackendError(snippet(ec.message), kind=ec.kind, retryable=ec.decision != "fatal")

    def classify(self, exc: BaseException) -> RetryDecision:
        """Retry decision for an exception from ``send``/``stream`` (or a raw LiteLLM one)."""
        return default_classify(self._convert(exc))
