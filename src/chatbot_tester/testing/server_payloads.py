"""Deterministic answers of the test server in OpenAI and Anthropic wire formats.

Pure functions (no aiohttp): the answer to a conversation, word-count usage, hashed
bag-of-words embeddings, and the JSON / SSE bodies that carry them.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

__all__ = [
    "SYSTEM_FINGERPRINT",
    "Answer",
    "Responder",
    "anthropic_message",
    "anthropic_sse",
    "anthropic_to_chat",
    "default_responder",
    "embed",
    "embeddings_body",
    "last_user_text",
    "message_text",
    "normalize_answer",
    "openai_completion",
    "openai_sse",
    "split_pieces",
    "word_count",
]

SYSTEM_FINGERPRINT = "fp_faultserver"
"""The ``system_fingerprint`` of every completion (OpenAI sends one per backend configuration)."""

Responder = Callable[[list[dict[str, Any]]], "str | dict[str, Any]"]
"""Maps the chat messages (OpenAI shape, text content) to a reply text or a full message dict."""

Answer = dict[str, Any]
"""A normalised assistant message: ``content`` (str) and ``tool_calls`` (OpenAI format list)."""

_WORD = re.compile(r"\w+")
_PIECE = re.compile(r"\s*\S+\s*")


def message_text(message: dict[str, Any]) -> str:
    """The text of one message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return ""


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    """Text of the last user message ('' when there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def default_responder(messages: list[dict[str, Any]]) -> str:
    """Echo the last user message: ``"echo: <text>"``."""
    return "echo: " + last_user_text(messages)


def word_count(text: str) -> int:
    """Whitespace-separated words (the server's token count)."""
    return len(text.split())


def normalize_answer(reply: str | dict[str, Any]) -> Answer:
    """Turn a responder's reply into ``{"content": str, "tool_calls": [...]}`` (OpenAI format).

    Tool calls may be given in OpenAI form or as ``{"name", "arguments"}`` with dict arguments.
    """
    if isinstance(reply, str):
        return {"content": reply, "tool_calls": []}
    calls = []
    for i, call in enumerate(reply.get("tool_calls") or []):
        fn = call.get("function", call)
        args = fn.get("arguments", {})
        if not isinstance(args, str):
            args = orjson.dumps(args).decode()
        calls.append(
            {
                "id": call.get("id") or f"call_{i}",
                "type": "function",
                "function": {"name": fn["name"], "arguments": args},
            }
        )
    content = reply.get("content")
    return {"content": content if isinstance(content, str) else "", "tool_calls": calls}


def _usage_counts(messages: Iterable[dict[str, Any]], answer: Answer) -> tuple[int, int]:
    prompt = sum(word_count(message_text(m)) for m in messages) or 1
    completion = word_count(answer["content"]) + sum(
        word_count(c["function"]["arguments"]) + 1 for c in answer["tool_calls"]
    )
    return prompt, max(completion, 1)


def openai_completion(
    messages: list[dict[str, Any]],
    answer: Answer,
    *,
    model: str,
    serial: int,
    usage: bool,
    cache_ratio: float,
) -> dict[str, Any]:
    """A ``chat.completion`` object for ``answer``."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer["content"],
        "refusal": None,
    }
    if answer["tool_calls"]:
        message["tool_calls"] = answer["tool_calls"]
        if not answer["content"]:
            message["content"] = None
    body: dict[str, Any] = {
        "id": f"chatcmpl-{serial}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if answer["tool_calls"] else "stop",
                "logprobs": None,
            }
        ],
    }
    if usage:
        body["usage"] = _openai_usage(messages, answer, cache_ratio)
    return body


def _openai_usage(
    messages: list[dict[str, Any]], answer: Answer, cache_ratio: float
) -> dict[str, Any]:
    prompt, completion = _usage_counts(messages, answer)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(prompt * cache_ratio)},
    }


def split_pieces(text: str) -> list[str]:
    """Split text into word-sized pieces that join back to exactly ``text``."""
    pieces = _PIECE.findall(text)
    return pieces if "".join(pieces) == text else [text]


def _sse(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def openai_sse(
    messages: list[dict[str, Any]],
    answer: Answer,
    *,
    model: str,
    serial: int,
    include_usage: bool,
    cache_ratio: float,
) -> list[bytes]:
    """The SSE events of a streamed chat completion, ``data: [DONE]`` included."""
    base = {
        "id": f"chatcmpl-{serial}",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse({**base, "choices": [choice]})

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events.extend(chunk({"content": piece}) for piece in split_pieces(answer["content"]))
    for i, call in enumerate(answer["tool_calls"]):
        head = {"index": i, "id": call["id"], "type": "function"}
        fn = call["function"]
        events.append(
            chunk({"tool_calls": [{**head, "function": {"name": fn["name"], "arguments": ""}}]})
        )
        events.append(
            chunk({"tool_calls": [{"index": i, "function": {"arguments": fn["arguments"]}}]})
        )
    events.append(chunk({}, "tool_calls" if answer["tool_calls"] else "stop"))
    if include_usage:
        events.append(
            _sse({**base, "choices": [], "usage": _openai_usage(messages, answer, cache_ratio)})
        )
    events.append(b"data: [DONE]\n\n")
    return events


def anthropic_to_chat(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Anthropic ``system`` + ``messages`` as OpenAI-shaped messages with text content."""
    out: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        out.append({"role": "system", "content": message_text({"content": system})})
    for message in body.get("messages") or []:
        out.append({"role": message.get("role", "user"), "content": message_text(message)})
    return out


def _anthropic_content(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer["content"]:
        blocks.append({"type": "text", "text": answer["content"]})
    for call in answer["tool_calls"]:
        fn = call["function"]
        try:
            args = orjson.loads(fn["arguments"])
        except orjson.JSONDecodeError:
            args = {"_raw": fn["arguments"]}
        blocks.append({"type": "tool_use", "id": call["id"], "name": fn["name"], "input": args})
    return blocks


def anthropic_message(
    messages: list[dict[str, Any]], answer: Answer, *, model: str, serial: int, cache_ratio: float
) -> dict[str, Any]:
    """A Messages API ``message`` object for ``answer``."""
    prompt, completion = _usage_counts(messages, answer)
    cached = int(prompt * cache_ratio)
    return {
        "id": f"msg_{serial}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_content(answer),
        "stop_reason": "tool_use" if answer["tool_calls"] else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt - cached,
            "output_tokens": completion,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        },
    }


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


def anthropic_sse(message: dict[str, Any]) -> list[bytes]:
    """The SSE events of a streamed Messages API answer."""
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    events = [_event("message_start", {"message": start}), _event("ping", {})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                _event(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
            )
            for piece in split_pieces(block["text"]):
                delta = {"type": "text_delta", "text": piece}
                events.append(_event("content_block_delta", {"index": index, "delta": delta}))
        else:
            head = {**block, "input": {}}
            events.append(_event("content_block_start", {"index": index, "content_block": head}))
            delta = {
                "type": "input_json_delta",
                "partial_json": orjson.dumps(block["input"]).decode(),
            }
            events.append(_event("content_block_delta", {"index": index, "delta": delta}))
        events.append(_event("content_block_stop", {"index": index}))
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(
        _event(
            "message_delta",
            {"delta": stop, "usage": {"output_tokens": message["usage"]["output_tokens"]}},
        )
    )
    events.append(_event("message_stop", {}))
    return events


def embed(text: str, dimensions: int = 64) -> list[float]:
    """Hashed bag-of-words vector, L2-normalised: texts sharing words have a high cosine."""
    vec = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        h = zlib.crc32(word.encode())
        vec[h % dimensions] += -1.0 if (h >> 16) & 1 else 1.0
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [v / norm for v in vec]


def embeddings_body(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An embeddings ``list`` response (float or base64 encoding, as asked)."""
    raw = body.get("input", "")
    inputs = [raw] if isinstance(raw, str) else [str(x) for x in raw]
    dimensions = int(body.get("dimensions") or 64)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, text in enumerate(inputs):
        vec = embed(text, dimensions)
        tokens += word_count(text)
        value: Any = (
            base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if as_base64 else vec
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
