"""Shared mapping of HTTP failures to retry decisions, and Retry-After parsing.

Used by every HTTP-speaking backend (openai, anthropic, http) so they agree on what is
retried: 408, 409, 429 and 5xx are; other 4xx are not; a quota-exhausted 429 is not.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from chatbot_tester.common.backends.base import RetryDecision
from chatbot_tester.common.types import ErrorKind

__all__ = [
    "QUOTA_MARKERS",
    "check_http_url",
    "classify_status",
    "config_kind_of_body",
    "parse_retry_after",
]

QUOTA_MARKERS = ("insufficient_quota", "quota exceeded", "exceeded your current quota", "billing")
"""Substrings of a 429 body that mean the account is out of quota (retrying cannot help)."""


_UNKNOWN_MODEL = re.compile(
    r"model_not_found|(?:unknown|invalid|unsupported|no such) model"
    r"|model\b[^.]{0,120}?\b(?:not found|does not exist|doesn't exist|is not supported|"
    r"not supported|is invalid|unknown)"
    r"|not_found_error[^}]{0,80}?model"
)
"""An error body saying the model name is wrong (OpenAI ``model_not_found``, Anthropic
``not_found_error`` naming the model, LiteLLM's "Invalid model name passed in model=...")."""
_AUTH = re.compile(
    r"invalid_api_key|invalid[ _-]?api[ _-]?key|incorrect api key|authentication_error"
    r"|authenticationerror|invalid x-api-key|permission_error|no api key|api key not valid"
)
"""An error body saying the credentials are wrong (also when the status is a plain 400)."""


def config_kind_of_body(body: str) -> ErrorKind | None:
    """The bad-config kind a 4xx error body names (auth, quota, unknown model), else ``None``.

    Whatever the status, every later request would fail the same way, so the run stops early.
    """
    lowered = body.lower()
    if any(marker in lowered for marker in QUOTA_MARKERS):
        return ErrorKind.QUOTA_EXHAUSTED
    if _AUTH.search(lowered):
        return ErrorKind.AUTH
    if _UNKNOWN_MODEL.search(lowered):
        return ErrorKind.CONFIG
    return None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``Retry-After`` seconds, or an HTTP-date.

    Returns ``None`` when no usable header is present. Negative values become 0.
    Header lookup is case-insensitive.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value):
                return max(0.0, value)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return max(0.0, value) if math.isfinite(value) else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def classify_status(
    status: int, headers: Mapping[str, str], body: str = "", *, message: str | None = None
) -> RetryDecision:
    """Decision for an HTTP error status (``body`` is a short, already-redacted snippet)."""
    text = message or f"HTTP {status}" + (f": {body[:200]}" if body else "")
    retry_after = parse_retry_after(headers)
    if status == 429:
        lowered = body.lower()
        if any(marker in lowered for marker in QUOTA_MARKERS):
            return RetryDecision("fatal", ErrorKind.QUOTA_EXHAUSTED, text, status)
        return RetryDecision("rate_limited", ErrorKind.RATE_LIMITED, text, status, retry_after)
    if status in (401, 403):
        quota = config_kind_of_body(body) is ErrorKind.QUOTA_EXHAUSTED
        return RetryDecision(
            "fatal", ErrorKind.QUOTA_EXHAUSTED if quota else ErrorKind.AUTH, text, status
        )
    if status in (408, 409) or status >= 500:
        return RetryDecision("retry", ErrorKind.HTTP, text, status, retry_after)
    return RetryDecision("fatal", config_kind_of_body(body) or ErrorKind.HTTP, text, status)


def check_http_url(value: str | None) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else ``ValueError`` (for validators).

    Catching ``ftp//host`` or ``localhost:8000`` at config time beats recording every sample as
    a failed request. A password in the URL may hold ``/`` and other special characters: it
    is percent-encoded (``url_credentials``) and never shown in an error.
    """
    if value is None:
        return None
    from urllib.parse import urlsplit

    from chatbot_tester.common.backends.url_credentials import encode_userinfo, hide_userinfo

    value = encode_userinfo(value)
    shown = hide_userinfo(value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        raise ValueError(f"'{shown}' has an invalid host or port") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"'{shown}' is not an http(s) URL; write it like http://localhost:8000/v1")
    return value
