"""Anthropic Messages API wire format: requests out, messages and stream events in.

Pure functions over JSON-like dicts (no SDK). System messages become ``system``; OpenAI-style
tools, tool calls and tool results are translated both ways; stop reasons are normalised to
the OpenAI names (stop, length, tool_calls).
"""

from __future__ import annotations

from typing import Any

import orjson

from chatbot_tester.common.backends.sdk_common import body_message, parse_arguments, snippet
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, ToolCall, Usage
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendConnectionError, BadResponse

__all__ = ["StreamState", "anthropic_payload", "parse_message"]

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
_DROPPED = frozenset({"seed", "n", "frequency_penalty", "presence_penalty", "logprobs"})
"""OpenAI-only sampling parameters the Messages API rejects; dropped so one config fits both."""


def _tool(spec: dict[str, Any]) -> dict[str, Any]:
    fn = spec.get("function")
    if spec.get("type") == "function" and isinstance(fn, dict):
        out = {"name": fn["name"], "input_schema": fn.get("parameters") or {"type": "object"}}
        if fn.get("description"):
            out["description"] = fn["description"]
        return out
    return spec  # already in Anthropic form


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        block = {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
        return {"role": "user", "content": [block]}
    if m.role == "assistant" and m.tool_calls:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
        for i, call in enumerate(m.tool_calls):
            args = call.arguments if isinstance(call.arguments, dict) else {"_raw": call.arguments}
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id or f"toolu_{i}",
                    "name": call.name,
                    "input": args,
                }
            )
        return {"role": "assistant", "content": blocks}
    return {"role": m.role, "content": m.content}


def anthropic_payload(request: ChatRequest, *, default_max_tokens: int) -> dict[str, Any]:
    """The Messages API body for ``request`` (model, system, messages, tools, params)."""
    body: dict[str, Any] = {}
    for key, value in request.params.items():
        if key in _DROPPED or key in ("model", "messages", "system", "stream", "tools"):
            continue
        if key == "stop":
            body["stop_sequences"] = [value] if isinstance(value, str) else list(value)
        elif key == "max_completion_tokens":
            body["max_tokens"] = value
        else:
            body[key] = value
    body.setdefault("max_tokens", default_max_tokens)
    body["model"] = request.model
    system = [m.content for m in request.messages if m.role == "system"]
    if system:
        body["system"] = "\n\n".join(system)
    body["messages"] = [_message(m) for m in request.messages if m.role != "system"]
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    return body


def _usage(data: Any, previous: Usage | None = None) -> Usage | None:
    if not isinstance(data, dict):
        return previous
    cached = data.get("cache_read_input_tokens")
    created = data.get("cache_creation_input_tokens")
    base = data.get("input_tokens")
    if base is None and previous is not None:
        prompt = previous.prompt_tokens
    else:
        prompt = (base or 0) + (cached or 0) + (created or 0)
    completion = data.get("output_tokens")
    total = None if prompt is None and completion is None else (prompt or 0) + (completion or 0)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cached_tokens=cached
        if cached is not None
        else (previous.cached_tokens if previous else None),
    )


def parse_message(data: Any) -> ChatResponse:
    """A Messages API ``message`` object as a ``ChatResponse``; ``BadResponse`` when unusable."""
    if not isinstance(data, dict):
        raise BadResponse(f"response is not a JSON object: {snippet(str(data), 80)}")
    if data.get("type") == "error" or data.get("error") is not None:
        raise BadResponse(f"error in a 200 response: {body_message(data)}")
    content = data.get("content")
    if not isinstance(content, list):
        raise BadResponse("response has no content")
    text: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            text.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            args = block.get("input")
            calls.append(
                ToolCall(
                    id=block.get("id"),
                    name=block.get("name", ""),
                    arguments=args if isinstance(args, dict) else {},
                )
            )
    stop = data.get("stop_reason")
    return ChatResponse(
        text="".join(text),
        tool_calls=calls,
        finish_reason=_STOP.get(stop, stop) if isinstance(stop, str) else None,
        usage=_usage(data.get("usage")),
        model=data.get("model"),
        raw=data,
    )


class StreamState:
    """Collects Messages API stream events into one ``ChatResponse``."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.stop: str | None = None
        self.events = 0
        self.done = False

    def add(self, payload: str) -> str:
        """Take one ``data:`` payload; return its new text ('' when none)."""
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise BadResponse(f"invalid JSON in a stream event: {snippet(payload, 80)}") from None
        if not isinstance(event, dict):
            raise BadResponse(f"unexpected stream event: {snippet(payload, 80)}")
        kind = event.get("type")
        self.events += 1
        if kind == "error":
            raise BadResponse(f"error in the stream: {body_message(event)}")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model, self.id = message.get("model"), message.get("id")
            self.usage = _usage(message.get("usage"))
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.tools[event.get("index", 0)] = {
                    "id": block.get("id"),
                    "name": block.get("name", ""),
                    "json": "",
                }
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                piece = delta.get("text") or ""
                self.text.append(piece)
                return piece
            if delta.get("type") == "input_json_delta":
                slot = self.tools.setdefault(
                    event.get("index", 0), {"id": None, "name": "", "json": ""}
                )
                slot["json"] += delta.get("partial_json") or ""
        elif kind == "message_delta":
            self.stop = (event.get("delta") or {}).get("stop_reason") or self.stop
            self.usage = _usage(event.get("usage"), self.usage)
        elif kind == "message_stop":
            self.done = True
        return ""

    def result(self) -> ChatResponse:
        """The complete response; ``BadResponse`` when the stream was empty or cut short."""
        if self.events == 0:
            raise BadResponse("the stream ended without any data")
        if not self.done:  # cut short: retried like a dropped connection
            raise BackendConnectionError(
                "the stream ended before message_stop", kind=ErrorKind.TRUNCATED_STREAM
            )
        calls = [
            ToolCall(id=t["id"], name=t["name"], arguments=parse_arguments(t["json"]))
            for _, t in sorted(self.tools.items())
        ]
        return ChatResponse(
            text="".join(self.text),
            tool_calls=calls,
            finish_reason=_STOP.get(self.stop or "", self.stop),
            usage=self.usage,
            model=self.model,
            raw={"id": self.id, "type": "message", "model": self.model, "stop_reason": self.stop},
        )
