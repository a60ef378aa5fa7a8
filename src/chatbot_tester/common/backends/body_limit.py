"""The per-call response size limit, enforced while a body or stream is read.

The limit (``runner.max_response_bytes``, default 10 MiB) travels in a context variable that
the call client sets around each attempt, so every backend reads it without a new parameter
(plugin backends can use ``read_aiohttp``/``read_httpx``/``StreamBudget`` too). A body over the
limit is never read whole: reading stops at the first chunk past it, the connection is dropped
and the call fails with ``ResponseTooLarge`` (error kind ``response_too_large``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from chatbot_tester.errors import ResponseTooLarge

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "StreamBudget",
    "max_response_bytes",
    "read_aiohttp",
    "read_httpx",
    "response_limit",
    "too_large",
]

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
"""10 MiB: far above any chat answer, far below what exhausts memory."""

_LIMIT: ContextVar[int] = ContextVar("max_response_bytes", default=DEFAULT_MAX_RESPONSE_BYTES)


def max_response_bytes() -> int:
    """The limit for the current call."""
    return _LIMIT.get()


@contextmanager
def response_limit(limit: int) -> Iterator[None]:
    """Apply ``limit`` to the responses read inside the block (the current task only)."""
    token = _LIMIT.set(limit)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def too_large(limit: int, size: int | None = None) -> ResponseTooLarge:
    """The error for a body over ``limit`` (``size`` when the server announced it)."""
    what = f"{size}-byte response" if size is not None else "response"
    return ResponseTooLarge(
        f"{what} is over the {limit}-byte limit; reading stopped "
        "(raise runner.max_response_bytes if such answers are expected)"
    )


class StreamBudget:
    """Counts the bytes of a streamed body; ``add`` raises once they pass the limit."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max_response_bytes() if limit is None else limit
        self.left = self.limit

    def add(self, size: int) -> None:
        """Count ``size`` more bytes (``ResponseTooLarge`` past the limit)."""
        self.left -= size
        if self.left < 0:
            raise too_large(self.limit)

    @property
    def exhausted(self) -> bool:
        """True once more bytes than the limit were counted."""
        return self.left < 0


def _announced(headers: Any) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def read_aiohttp(resp: Any) -> bytes:
    """The whole body of an aiohttp response, or ``ResponseTooLarge`` (nothing more is read).

    A plain body with a Content-Length within the limit is read in one go (aiohttp reads no
    more than announced); a chunked or compressed one is counted as it arrives.
    """
    limit = max_response_bytes()
    headers = resp.headers
    size = _announced(headers)
    if size is not None and size > limit:
        raise too_large(limit, size)
    if size is not None and "Content-Encoding" not in headers:
        body: bytes = await resp.read()
        return body
    budget = StreamBudget(limit)
    parts: list[bytes] = []
    async for chunk in resp.content.iter_any():
        budget.add(len(chunk))
        parts.append(chunk)
    return b"".join(parts)


async def read_httpx(response: Any) -> bytes:
    """The whole (decoded) body of a streamed httpx response, or ``ResponseTooLarge``."""
    limit = max_response_bytes()
    size = _announced(response.headers)
    if size is not None and size > limit:
        raise too_large(limit, size)
    budget = StreamBudget(limit)
    parts: list[bytes] = []
    async for chunk in response.aiter_bytes():
        budget.add(len(chunk))
        parts.append(chunk)
    return b"".join(parts)
