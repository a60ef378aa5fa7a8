"""Chat Completions wire format: our messages out, completions and stream chunks in.

Pure functions over JSON-like dicts (no SDK), shared by the ``openai`` backend and usable
by any backend speaking the OpenAI format.
"""

from __future__ import annotations

from typing import Any

import orjson

from chatbot_tester.common.backends.sdk_common import body_message, parse_arguments, snippet
from chatbot_tester.common.schemas import ChatResponse, Message, ToolCall, Usage
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendConnectionError, BadResponse

__all__ = [
    "SSELines",
    "StreamAccumulator",
    "openai_messages",
    "parse_completion",
    "parse_usage",
]


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


def parse_usage(data: Any) -> Usage | None:
    """Chat Completions ``usage`` as ``Usage`` (cached tokens from ``prompt_tokens_details``)."""
    if not isinstance(data, dict):
        return None
    fields: dict[str, Any] = {
        "prompt_tokens": data.get("prompt_tokens"),
        "completion_tokens": data.get("completion_tokens"),
        "total_tokens": data.get("total_tokens"),
    }
    details = data.get("prompt_tokens_details")
    if isinstance(details, dict):
        fields["cached_tokens"] = details.get("cached_tokens")
    # Validated as Usage(**fields) is, without the Python-level __init__ frame (hot path).
    usage: Usage = Usage.__pydantic_validator__.validate_python(fields)
    return usage


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
    fields: dict[str, Any] = {
        "text": message.get("content") or "",
        "finish_reason": choice.get("finish_reason"),
        "usage": parse_usage(data.get("usage")),
        "model": data.get("model"),
        "raw": data,
    }
    calls = message.get("tool_calls")
    if calls:
        fields["tool_calls"] = [
            ToolCall(
                id=c.get("id"),
                name=(c.get("function") or {}).get("name", ""),
                arguments=parse_arguments((c.get("function") or {}).get("arguments")),
            )
            for c in calls
        ]
    response: ChatResponse = ChatResponse.__pydantic_validator__.validate_python(fields)
    return response


class StreamAccumulator:
    """Collects streamed ``chat.completion.chunk`` events into one ``ChatResponse``.

    ``usage_container`` names a chunk key whose object may hold the usage instead of the
    top-level ``usage`` (Groq's ``x_groq``).
    """

    def __init__(self, usage_container: str | None = None) -> None:
        self.usage_container = usage_container
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.chunks = 0
        self.done = False
        """True once ``[DONE]`` arrived (the stream's terminator)."""

    def add(self, payload: str | bytes) -> str:
        """Take one ``data:`` payload; return its new text ('' when none)."""
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise BadResponse(
                f"invalid JSON in a stream event: {snippet(_text(payload), 80)}"
            ) from None
        if not isinstance(chunk, dict):
            raise BadResponse(f"unexpected stream event: {snippet(_text(payload), 80)}")
        if chunk.get("error") is not None:
            raise BadResponse(f"error in the stream: {body_message(chunk)}")
        self.chunks += 1
        self.model = chunk.get("model") or self.model
        self.id = chunk.get("id") or self.id
        if chunk.get("usage"):
            self.usage = parse_usage(chunk["usage"])
        elif self.usage_container is not None:
            holder = chunk.get(self.usage_container)
            if isinstance(holder, dict) and holder.get("usage"):
                self.usage = parse_usage(holder["usage"])
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
        """The complete response; ``BadResponse`` when the stream carried no event.

        A stream that ended with neither ``[DONE]`` nor a ``finish_reason`` was cut short:
        that is a retryable ``truncated_stream`` error, never a (partial) answer.
        """
        if self.chunks == 0:
            raise BadResponse("the stream ended without any data")
        if not self.done and self.finish is None:
            raise BackendConnectionError(
                "the stream ended without [DONE] or a finish_reason",
                kind=ErrorKind.TRUNCATED_STREAM,
            )
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


def _text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode("utf-8", "replace")


class SSELines:
    """Splits a server-sent-event byte stream into the payloads of its ``data:`` lines.

    Each ``data:`` line is one payload (as the Chat Completions API sends them); blank
    separators, ``: comment`` keep-alives and ``event:``/``id:`` lines are skipped. Lines
    may end in LF or CRLF and may be split anywhere across chunks.
    """

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The payloads of the lines completed by ``chunk``."""
        data = self._tail + chunk if self._tail else chunk
        lines = data.split(b"\n")
        self._tail = lines.pop()
        return [line[5:].strip() for line in lines if line.startswith(b"data:")]

    def close(self) -> list[bytes]:
        """The payload of a last line that had no line break (if any)."""
        tail, self._tail = self._tail, b""
        return [tail[5:].strip()] if tail.startswith(b"data:") else []
