"""Deterministic test doubles: ``echo`` and ``scripted`` (public as ``chatbot_tester.testing``).

They let users test their pipelines, metrics and CI gates offline: same input, same answer,
including simulated faults (timeouts, 500s, 429s, bad bodies) injected by rule, so retry and
error handling can be exercised without a network.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Literal

import anyio
from pydantic import Field, model_validator

from chatbot_tester.common.backends.base import BackendOptions, ChatBackend, OptionsT
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta, ToolCall, Usage
from chatbot_tester.common.types import empty_list
from chatbot_tester.errors import (
    AuthError,
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendTimeout,
    BadResponse,
    RateLimited,
)

__all__ = [
    "EchoBackend",
    "EchoOptions",
    "FailRule",
    "ScriptedBackend",
    "ScriptedOptions",
    "ScriptedRule",
]

UsageSetting = Usage | Literal["words"] | None
_WORDS = re.compile(r"\S+\s*")


def last_user_message(request: ChatRequest) -> str:
    """Text of the last user message (empty when there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


def word_usage(request: ChatRequest, reply: str) -> Usage:
    """Usage counted in words: every message in, the reply out (marked as estimated)."""
    prompt = sum(len(m.content.split()) for m in request.messages)
    completion = len(reply.split())
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        estimated=True,
    )


class _WordStreaming(ChatBackend[OptionsT]):
    """Shared ``stream``: the answer of ``send`` yielded word by word, then the response."""

    supports_streaming = True
    _stream_delay_s: float = 0.0

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """Yield the reply word by word (whitespace kept), then the full response."""
        response = await self.send(request)
        for index, match in enumerate(_WORDS.finditer(response.text)):
            if index and self._stream_delay_s:
                await anyio.sleep(self._stream_delay_s)
            yield TextDelta(text=match.group(0))
        yield response


def _usage(setting: UsageSetting, request: ChatRequest, reply: str) -> Usage | None:
    if setting == "words":
        return word_usage(request, reply)
    return setting


# -- echo ---------------------------------------------------------------------------------


class EchoOptions(BackendOptions):
    """Options of the ``echo`` backend."""

    prefix: str = ""
    """Text put in front of the echoed message."""
    latency_ms: float = Field(default=0.0, ge=0)
    """Simulated latency before answering."""
    stream_delay_ms: float = Field(default=0.0, ge=0)
    """Delay between streamed words."""
    usage: UsageSetting = "words"
    """``words`` (word counts), a fixed usage object, or null for none."""


class EchoBackend(_WordStreaming[EchoOptions]):
    """Answers ``prefix`` + the last user message: the simplest deterministic chatbot."""

    Options = EchoOptions
    description = "test double: replies with prefix + the last user message"

    def __init__(self, options: EchoOptions) -> None:
        super().__init__(options)
        self._opts = options
        self._stream_delay_s = options.stream_delay_ms / 1000.0

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Echo the last user message."""
        if self._opts.latency_ms:
            await anyio.sleep(self._opts.latency_ms / 1000.0)
        text = self._opts.prefix + last_user_message(request)
        return ChatResponse(
            text=text,
            finish_reason="stop",
            usage=_usage(self._opts.usage, request, text),
            model=request.model,
            session_id=request.session_id,
        )


# -- scripted -----------------------------------------------------------------------------


class _Matcher(BackendOptions):
    match: str | None = None
    """Regular expression searched in the last user message."""
    contains: str | None = None
    """Substring looked for in the last user message."""

    def matches(self, text: str, flags: int) -> bool:
        """True when every condition given holds for ``text`` (no condition: always)."""
        if self.contains is not None:
            needle, hay = (
                (self.contains, text) if not flags else (self.contains.lower(), text.lower())
            )
            if needle not in hay:
                return False
        return self.match is None or re.search(self.match, text, flags) is not None

    @model_validator(mode="after")
    def _valid_regex(self) -> _Matcher:
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(f"'match' is not a valid regular expression: {exc}") from None
        return self


class ScriptedRule(_Matcher):
    """When the message matches, answer ``reply`` (a list is cycled call after call)."""

    reply: str | list[str]
    """The answer, or answers used in turn."""
    tool_calls: list[ToolCall] = Field(default_factory=empty_list)
    """Tool calls returned with the answer."""

    @model_validator(mode="after")
    def _has_condition(self) -> ScriptedRule:
        if self.match is None and self.contains is None:
            raise ValueError("a rule needs 'match' (regex) or 'contains'")
        if isinstance(self.reply, list) and not self.reply:
            raise ValueError("'reply' must not be an empty list")
        return self


FailKind = Literal["timeout", "http_500", "rate_limited", "bad_response", "connection", "auth"]


class FailRule(_Matcher):
    """Fail matching requests ``times`` times per conversation before letting them through."""

    error: FailKind
    """Which fault: timeout, http_500, rate_limited, bad_response, connection or auth."""
    times: int | None = Field(default=1, ge=1)
    """Failures per sample (counted by sample id, else by message); null fails forever."""
    retry_after: float | None = Field(default=None, ge=0)
    """Retry-After seconds reported with ``rate_limited``."""


class ScriptedOptions(BackendOptions):
    """Options of the ``scripted`` backend."""

    rules: list[ScriptedRule] = Field(default_factory=empty_list)
    """Rules tried in order; the first match answers."""
    default: str | list[str] = "I don't know."
    """Answer when no rule matches (a list is cycled)."""
    ignore_case: bool = True
    """Match ``match``/``contains`` case-insensitively."""
    usage: UsageSetting = "words"
    """``words`` (word counts), a fixed usage object, or null for none."""
    latency_ms: float = Field(default=0.0, ge=0)
    """Simulated latency before answering."""
    stream_delay_ms: float = Field(default=0.0, ge=0)
    """Delay between streamed words."""
    fail: list[FailRule] = Field(default_factory=empty_list)
    """Simulated faults, checked before the rules."""


def _fault(rule: FailRule) -> BackendError:
    kind = rule.error
    if kind == "timeout":
        return BackendTimeout("simulated timeout (scripted backend)")
    if kind == "http_500":
        return BackendHTTPError("HTTP 500: simulated server error", status_code=500, retryable=True)
    if kind == "rate_limited":
        return RateLimited(
            "HTTP 429: simulated rate limit", status_code=429, retry_after=rule.retry_after
        )
    if kind == "bad_response":
        return BadResponse("simulated malformed response (scripted backend)")
    if kind == "connection":
        return BackendConnectionError("simulated connection reset (scripted backend)")
    return AuthError("HTTP 401: simulated invalid API key", status_code=401)


class ScriptedBackend(_WordStreaming[ScriptedOptions]):
    """Answers by rules (regex/substring -> reply), with deterministic simulated faults."""

    Options = ScriptedOptions
    description = "test double: regex/substring rules -> replies, with simulated faults"

    def __init__(self, options: ScriptedOptions) -> None:
        super().__init__(options)
        self._opts = options
        self._flags = re.IGNORECASE if options.ignore_case else 0
        self._stream_delay_s = options.stream_delay_ms / 1000.0
        self._cycle: dict[int, int] = {}
        self._failures: dict[tuple[int, str], int] = {}

    def _next(self, slot: int, reply: str | list[str]) -> str:
        if isinstance(reply, str):
            return reply
        index = self._cycle.get(slot, 0)
        self._cycle[slot] = index + 1
        return reply[index % len(reply)]

    def _check_faults(self, request: ChatRequest, text: str) -> None:
        for index, rule in enumerate(self._opts.fail):
            if not rule.matches(text, self._flags):
                continue
            key = (index, request.sample_id or text)
            count = self._failures.get(key, 0)
            if rule.times is None or count < rule.times:
                self._failures[key] = count + 1
                raise _fault(rule)

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Apply the fault rules, then the first matching reply rule (else ``default``)."""
        if self._opts.latency_ms:
            await anyio.sleep(self._opts.latency_ms / 1000.0)
        text = last_user_message(request)
        self._check_faults(request, text)
        tool_calls: list[ToolCall] = []
        for index, rule in enumerate(self._opts.rules):
            if rule.matches(text, self._flags):
                reply = self._next(index, rule.reply)
                tool_calls = list(rule.tool_calls)
                break
        else:
            reply = self._next(-1, self._opts.default)
        return ChatResponse(
            text=reply,
            tool_calls=tool_calls,
            finish_reason="tool_calls" if tool_calls else "stop",
            usage=_usage(self._opts.usage, request, reply),
            model=request.model,
            session_id=request.session_id,
        )
