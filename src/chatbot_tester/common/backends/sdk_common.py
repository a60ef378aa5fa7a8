"""Helpers shared by the SDK-based backends (openai, anthropic): errors, keys, parameters.

Kept free of SDK imports so that importing a backend module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import orjson

from chatbot_tester.common.backends.base import RetryDecision
from chatbot_tester.common.backends.http_status import classify_status
from chatbot_tester.common.redact import redact, register_secret
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import (
    AuthError,
    BackendError,
    BackendHTTPError,
    BadResponse,
    ConfigError,
    RateLimited,
)

__all__ = [
    "api_key_from",
    "body_message",
    "error_for_status",
    "error_from_class",
    "parse_arguments",
    "snippet",
]


def api_key_from(
    explicit: str | None, env_names: tuple[str, ...], *, backend: str, required: bool
) -> str | None:
    """The API key from the options or the first set environment variable (registered for redaction).

    ``required`` keys that are missing raise a one-line ``ConfigError`` naming the fix.
    """
    key = explicit or next((os.environ[n] for n in env_names if os.environ.get(n)), None)
    if key:
        register_secret(key)
        return key
    if required:
        raise ConfigError(
            f"backend '{backend}': no API key: set options.api_key (e.g. api_key: "
            f'"${{{env_names[0]}}}") or export {env_names[0]}'
        )
    return None


def snippet(text: str, limit: int = 200) -> str:
    """One redacted line of at most ``limit`` characters."""
    line = " ".join(redact(text).split())  # redacted before the cut: no secret prefix
    if len(line) > limit:
        line = line[: limit - 3] + "..."
    return line


def json_payload(content: bytes, content_type: str) -> Any:
    """The decoded JSON of a 2xx reply; ``BadResponse`` for an HTML page or malformed JSON.

    A 200 that is not JSON is a server fault (a proxy's error page, a truncated body), to be
    retried and never scored.
    """
    if "json" not in content_type:
        text = snippet(content.decode("utf-8", "replace"), 80)
        raise BadResponse(f"non-JSON response ({content_type or 'no content type'}): {text}")
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        raise BadResponse(f"invalid JSON in the response ({len(content)} bytes)") from None


def body_message(body: object) -> str:
    """A short description of an error body: its ``error.message`` when it has one."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping) and isinstance(err.get("message"), str):
            kind = err.get("type") or err.get("code")
            prefix = f"{kind}: " if isinstance(kind, str) and kind not in err["message"] else ""
            return snippet(prefix + err["message"])
        try:
            return snippet(orjson.dumps(body).decode())
        except TypeError:
            return snippet(str(body))
    if isinstance(body, bytes):
        return snippet(body.decode("utf-8", "replace"))
    return snippet(str(body)) if body is not None else ""


def error_from_class(ec: RetryDecision) -> BackendError:
    """The ``BackendError`` that ``default_classify`` maps back to ``ec``."""
    if ec.kind is ErrorKind.RATE_LIMITED:
        return RateLimited(ec.message, status_code=ec.status_code, retry_after=ec.retry_after)
    if ec.kind is ErrorKind.AUTH:
        return AuthError(ec.message, status_code=ec.status_code)
    if ec.kind is ErrorKind.BAD_RESPONSE:
        return BadResponse(ec.message, status_code=ec.status_code)
    if ec.status_code is not None:
        return BackendHTTPError(
            ec.message,
            status_code=ec.status_code,
            retry_after=ec.retry_after,
            kind=ec.kind,
            retryable=ec.decision != "fatal",
        )
    return BackendError(ec.message, kind=ec.kind, retryable=ec.decision != "fatal")


def error_for_status(status: int, headers: Mapping[str, str], body: object) -> BackendError:
    """A ``BackendError`` for an HTTP error answer (quota, auth, retry-after understood)."""
    short = body_message(body)
    raw = body if isinstance(body, str) else short
    if isinstance(body, Mapping):
        raw = snippet(orjson.dumps(body, default=str).decode(), 500)
    message = f"HTTP {status}" + (f": {short}" if short else "")
    return error_from_class(classify_status(status, headers, raw, message=message))


def parse_arguments(raw: str | None) -> dict[str, Any] | str:
    """Tool-call arguments as a dict; the raw string when they are not a JSON object."""
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    return value if isinstance(value, dict) else raw
