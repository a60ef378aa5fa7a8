"""What the direct aiohttp transports (``openai_direct``, ``anthropic_direct``) share.

``status_error`` turns a non-2xx answer into our error the way the SDKs read bodies, and
``sse_payloads`` reads an event-stream body: it checks the content type, counts the bytes
against ``runner.max_response_bytes`` and yields each ``data:`` payload while the caller's
accumulator is not done, then reads on to the end of the body so that aiohttp returns the
keep-alive connection to its pool (junk past the limit after a complete answer is dropped
with the connection instead).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING

import orjson

from chatbot_tester.common.backends.body_limit import StreamBudget, read_aiohttp, too_large
from chatbot_tester.common.backends.openai_wire import SSELines
from chatbot_tester.common.backends.sdk_common import error_for_status, snippet
from chatbot_tester.errors import BackendError, BadResponse

if TYPE_CHECKING:
    import aiohttp

__all__ = ["sse_payloads", "status_error"]


def status_error(status: int, headers: Mapping[str, str], raw: bytes) -> BackendError:
    """The error for a non-2xx answer; the body is read as the SDK reads it (JSON, else text)."""
    body: object
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", "replace").strip()
    if 300 <= status < 400:
        where = headers.get("Location", "")
        body = f"redirect to {snippet(where, 120)} (not followed: set base_url to the final URL)"
    return error_for_status(status, headers, body)


async def sse_payloads(
    resp: aiohttp.ClientResponse, done: Callable[[], bool]
) -> AsyncGenerator[bytes, None]:
    """The ``data:`` payloads of an event-stream answer while ``done()`` is false."""
    if resp.status >= 300:
        raise status_error(resp.status, resp.headers, await read_aiohttp(resp))
    content_type = resp.headers.get("Content-Type", "")
    if "event-stream" not in content_type:
        text = snippet((await read_aiohttp(resp)).decode("utf-8", "replace"), 80)
        raise BadResponse(
            f"expected an event stream, got {content_type or 'no content type'}: {text}"
        )
    lines = SSELines()
    budget = StreamBudget()
    async for chunk in resp.content.iter_any():
        budget.left -= len(chunk)
        if budget.left < 0:
            if done():
                return  # a complete answer, then junk: dropped with the connection
            raise too_large(budget.limit)
        for payload in lines.feed(chunk):
            if not done():
                yield payload
    for payload in lines.close():
        if not done():
            yield payload
