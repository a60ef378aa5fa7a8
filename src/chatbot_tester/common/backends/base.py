"""The ChatBackend protocol and the backend registry shared by every stage.

A backend turns a ``ChatRequest`` into a ``ChatResponse``. It does not time, retry, limit,
cache or price anything: the runner owns all of that. It only says, through ``classify``,
whether a failure is worth retrying.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from typing_extensions import Self
from typing_extensions import TypeVar as DefaultedTypeVar

from chatbot_tester.common.registry import Registry
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.common.types import Decision, ErrorKind, RetryDecision
from chatbot_tester.common.validation import format_validation_error
from chatbot_tester.errors import BackendError, BadResponse, ConfigError, PluginError

__all__ = [
    "BackendOptions",
    "BackendRegistry",
    "ChatBackend",
    "ErrorClass",
    "OptionsT",
    "RetryDecision",
    "backend_registry",
    "format_validation_error",
    "prompt_request",
    "register_backend",
]

ErrorClass = RetryDecision
"""Former name of ``RetryDecision``, kept for plugins written against it."""


def prompt_request(prompt: str) -> ChatRequest:
    """A one-user-message request for ``prompt`` (what ``send("a prompt")`` means)."""
    return ChatRequest(messages=[Message(role="user", content=prompt)])


def as_response(backend: ChatBackend, result: object) -> ChatResponse:
    """``result`` of ``backend.send`` as a ChatResponse: a plain ``str`` is the answer text."""
    if isinstance(result, ChatResponse):
        return result
    if isinstance(result, str):
        return ChatResponse(text=result)
    name = backend.name or type(backend).__name__
    raise BadResponse(
        f"backend {name!r}: send() returned {type(result).__name__}; "
        "it must return a ChatResponse or a str"
    )


_SendFn = Callable[[Any, ChatRequest], Coroutine[Any, Any, Any]]


def _normalised_send(send: _SendFn) -> Callable[[Any, ChatRequest | str], Any]:
    """Wrap a subclass's ``send``: accept a string prompt, turn a ``str`` answer into a response."""

    @functools.wraps(send)
    async def wrapper(self: ChatBackend, request: ChatRequest | str) -> ChatResponse:
        if isinstance(request, str):
            request = prompt_request(request)
        result = await send(self, request)
        if result.__class__ is ChatResponse:
            return result
        return as_response(self, result)

    wrapper.__chatbot_tester_normalised__ = True  # type: ignore[attr-defined]
    return wrapper


class BackendOptions(BaseModel):
    """Base of every backend's options model: unknown options are errors."""

    model_config = ConfigDict(defer_build=True, extra="forbid")


OptionsT = DefaultedTypeVar(
    "OptionsT", bound=BackendOptions, default=BackendOptions, covariant=True
)
"""The options model of a backend (``ChatBackend[MyOptions]`` types ``self.options``)."""


class ChatBackend(ABC, Generic[OptionsT]):
    """Base class for chat backends, generic over the options model.

    Subclasses set ``Options`` to their pydantic options model, name it as the type
    parameter (``class MyBackend(ChatBackend[MyOptions])``, so ``self.options`` is typed)
    and implement ``send``.
    ``stream`` is optional (``supports_streaming``); ``aclose`` releases connections.
    """

    Options: ClassVar[type[BackendOptions]] = BackendOptions
    """Pydantic model validating this backend's options."""
    description: ClassVar[str] = ""
    """One line shown by ``chatbot-tester backends``."""
    supports_streaming: ClassVar[bool] = False
    """True when ``stream`` is implemented."""
    requires_extra: ClassVar[str | None] = None
    """Name of the pip extra that provides this backend's SDK, if any."""
    local: ClassVar[bool] = False
    """True when the model runs on this machine: calls cost 0 and records say ``local``."""

    name: str = ""
    """Registered name (set by the registry on creation)."""

    def __init__(self, options: OptionsT) -> None:
        self.options: OptionsT = options

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        send = cls.__dict__.get("send")
        if (
            send is not None
            and not getattr(send, "__isabstractmethod__", False)
            and not getattr(send, "__chatbot_tester_normalised__", False)
        ):
            cls.send = _normalised_send(send)  # type: ignore[method-assign,assignment]

    @abstractmethod
    async def send(self, request: ChatRequest) -> ChatResponse:
        """Answer one request; raise ``BackendError`` (or let SDK errors through) on failure.

        Implementations may return a plain ``str`` (wrapped into a ``ChatResponse``), and
        callers may pass a string prompt (wrapped into a one-user-message ``ChatRequest``).
        """

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """Yield text deltas and finally the complete ``ChatResponse``.

        The default falls back to ``send`` (one final response, no deltas).
        """
        yield await self.send(request)

    async def start(self) -> None:
        """Get ready for calls (load a model) before the first one is timed; idempotent.

        ``BackendClient`` awaits it once before its first attempt, so slow preparation never
        counts as latency. The default does nothing.
        """
        return None

    async def aclose(self) -> None:
        """Release connections and other resources."""
        return None

    def streams(self) -> bool:
        """True when ``stream`` yields text as it arrives with these options (TTFT measurable)."""
        return type(self).supports_streaming

    async def prepare(self, request: ChatRequest) -> None:
        """One-time set-up before the first timed call (derive routes, build clients).

        The call client awaits it once, before the first attempt's clock starts, so that
        set-up work never counts as (or, on the event loop, inflates) a request's latency.
        Errors are ignored here: the first attempt meets them. Default: nothing.
        """
        return None

    def needs_model(self) -> bool:
        """True when every request fails without a ``model`` (checked by ``--dry-run``)."""
        return False

    def classify(self, exc: BaseException) -> RetryDecision:
        """Map an exception raised by ``send``/``stream`` to a retry decision.

        The default understands ``BackendError`` and common transport errors; backends
        wrapping an SDK override it to map the SDK's exception types.
        """
        return default_classify(exc)

    def identity(self) -> dict[str, Any]:
        """What makes two instances answer alike (cache keys, shared rate limits).

        Secrets are hashed, never returned in clear.
        """
        return {
            "backend": self.name,
            "options": _hash_secrets(self.options.model_dump(mode="json")),
        }

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _hash_secrets(data: Any) -> Any:
    """``data`` with every value under a secret-looking key (at any depth) hashed."""
    from chatbot_tester.common.redact import looks_secret_name

    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            if looks_secret_name(str(key)) and value is not None and not isinstance(value, dict):
                digest = hashlib.sha256(str(value).encode()).hexdigest()[:16]
                out[key] = f"sha256:{digest}"
            else:
                out[key] = _hash_secrets(value)
        return out
    if isinstance(data, list):
        return [_hash_secrets(v) for v in data]
    return data


def default_classify(exc: BaseException) -> RetryDecision:
    """Classification shared by all backends for our own and transport-level errors."""
    import asyncio

    if isinstance(exc, BackendError):
        status = exc.status_code
        if exc.kind is ErrorKind.RATE_LIMITED:
            return RetryDecision("rate_limited", exc.kind, exc.message, status, exc.retry_after)
        decision: Decision = "retry" if exc.retryable else "fatal"
        return RetryDecision(decision, exc.kind, exc.message, status, exc.retry_after)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return RetryDecision("retry", ErrorKind.TIMEOUT, "request timed out")
    if isinstance(exc, (ConnectionError, OSError)):
        return RetryDecision("retry", ErrorKind.CONNECTION, f"connection failed: {exc}")
    return RetryDecision("fatal", ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")


BackendT = TypeVar("BackendT", bound=type[ChatBackend])


def _validate_backend(name: str, obj: object) -> type[ChatBackend]:
    if not (isinstance(obj, type) and issubclass(obj, ChatBackend)):
        raise PluginError(f"backend '{name}' is not a ChatBackend subclass: {obj!r}")
    return obj


class BackendRegistry(Registry[type[ChatBackend]]):
    """Registry of backend classes; ``create`` validates options and instantiates."""

    def __init__(self) -> None:
        super().__init__("backend", "chatbot_tester.backends", validate=_validate_backend)

    def options_model(self, name: str) -> type[BackendOptions]:
        """The options model of backend ``name``."""
        return self.get(name).Options

    def validate_options(self, name: str, config: dict[str, Any]) -> BackendOptions:
        """Validate ``config`` against backend ``name``'s options; ConfigError on failure."""
        cls = self.get(name)
        try:
            return cls.Options.model_validate(config)
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(exc, cls.Options, f"backend '{name}'")
            ) from None

    def create(self, name: str, /, base_dir: Path | None = None, **config: Any) -> ChatBackend:
        """Create backend ``name`` with its options validated.

        Relative ``Path`` options are resolved against ``base_dir`` (the pipeline file's
        directory) when given.
        """
        cls = self.get(name)
        options = self.validate_options(name, config)
        if base_dir is not None:
            for field_name, info in type(options).model_fields.items():
                value = getattr(options, field_name)
                is_path = info.annotation in (Path, Path | None) and isinstance(value, Path)
                if is_path and not value.is_absolute():
                    setattr(options, field_name, (base_dir / value).resolve())
        backend = cls(options)
        backend.name = name
        return backend


backend_registry = BackendRegistry()
"""The one registry used by the generator, the runner and the judge."""


def register_backend(name: str) -> Callable[[BackendT], BackendT]:
    """Class decorator: ``@register_backend("my_llm")`` makes the backend usable everywhere."""

    def deco(cls: BackendT) -> BackendT:
        backend_registry.register(name, cls)
        return cls

    return deco
