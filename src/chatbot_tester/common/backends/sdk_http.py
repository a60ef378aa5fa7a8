"""The SDK path the ``openai`` and ``anthropic`` backends share: raw POSTs through the official client.

``sdk_post`` sends a body as given through the SDK client (its auth, routing and headers) and
returns the raw, still open HTTP response; ``sdk_json`` reads a whole answer within
``runner.max_response_bytes`` and decodes it; ``sdk_sse_payloads`` reads an event stream line
by line within the same limit and yields each ``data:`` payload while the caller's
accumulator is not done, then reads on to the end of the body so that the keep-alive
connection is reused (junk past the limit after a complete answer is dropped with the
connection). Errors are the caller's to convert: each backend maps its SDK's exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.backends.body_limit import StreamBudget, read_httpx, too_large
from chatbot_tester.common.backends.sdk_common import json_payload, snippet
from chatbot_tester.errors import BadResponse

if TYPE_CHECKING:
    import httpx2

    from chatbot_tester.common.schemas import ChatRequest

__all__ = ["sdk_json", "sdk_post", "sdk_sse_payloads"]


async def sdk_post(
    client: Any,
    path: str,
    request: ChatRequest,
    body: dict[str, Any],
    *,
    sample_id_header: str | None,
    stream: bool,
) -> httpx2.Response:
    """POST ``body`` to ``path`` through the SDK ``client`` and get the raw HTTP response.

    The body is sent as given, skipping the SDK's typed parameter transform (a third of its
    CPU per call): parameters pass through unchanged, new ones included.
    """
    import httpx2

    options: dict[str, Any] = {}
    if sample_id_header and request.sample_id:
        options["headers"] = {sample_id_header: request.sample_id}
    post: Any = client.post  # its overloads cannot express cast_to=httpx2.Response
    response = await post(path, cast_to=httpx2.Response, body=body, options=options, stream=stream)
    assert isinstance(response, httpx2.Response)
    return response


async def sdk_json(response: httpx2.Response) -> Any:
    """The decoded JSON body of ``response``, streamed from the socket (never read whole past the limit)."""
    try:
        content = await read_httpx(response)
    finally:
        await response.aclose()
    return json_payload(content, response.headers.get("content-type", ""))


async def sdk_sse_payloads(
    response: httpx2.Response, done: Callable[[], bool]
) -> AsyncGenerator[str, None]:
    """The ``data:`` payloads of an event-stream ``response`` while ``done()`` is false."""
    content_type = response.headers.get("content-type", "")
    if "event-stream" not in content_type:
        text = snippet((await read_httpx(response)).decode("utf-8", "replace"), 80)
        kind = content_type or "no content type"
        raise BadResponse(f"expected an event stream, got {kind}: {text}")
    budget = StreamBudget()
    async for line in response.aiter_lines():
        budget.left -= len(line) + 1
        if budget.left < 0:
            if done():
                return  # a complete answer, then junk: dropped with the connection
            raise too_large(budget.limit)
        if done() or not line.startswith("data:"):
            continue  # blank separators, ": keep-alive" comments, event names
        yield line[5:].strip()
