"""Streamed replies of the ``http`` backend: server-sent events, NDJSON or raw chunked text.

``read_stream`` turns an aiohttp response body into ``TextDelta`` items as the bytes arrive
(so the runner can time the first token) and then one ``ChatResponse``. The text delta of
each JSON event is picked by ``stream_path``; the usage, finish reason, session id and error
paths of the backend are evaluated on every event (the last value found wins). A configured
terminator (``stream_done``, ``stream_done_path``) that never arrives, an SSE event cut before
its closing blank line, or an NDJSON line cut mid-object make the stream ``truncated_stream``
(retryable), never a partial answer.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from chatbot_tester.common.backends.body_limit import StreamBudget, read_aiohttp
from chatbot_tester.common.backends.http_codec import kind_name, parse_usage, tojson
from chatbot_tester.common.backends.sse import SSEParser
from chatbot_tester.common.schemas import ChatResponse, TextDelta, Usage
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendConnectionError, BadResponse

if TYPE_CHECKING:
    import aiohttp

__all__ = ["StreamFormat", "StreamMode", "read_stream"]

StreamMode = Literal["sse", "ndjson", "chunked"]
Path = Callable[[Any], Any]


@dataclass(frozen=True)
class StreamFormat:
    """How to read one backend's streamed replies (compiled once, at creation)."""

    mode: StreamMode
    delta: Path | None
    """Compiled ``stream_path`` (``None``: the event data / line is the text)."""
    delta_expr: str | None
    done: str | None = None
    done_path: Path | None = None
    usage: Path | None = None
    finish: Path | None = None
    error: Path | None = None
    error_expr: str | None = None
    session: Path | None = None

    @property
    def terminated(self) -> bool:
        """True when the stream must end with a terminator."""
        return self.done is not None or self.done_path is not None


class _Collector:
    """Text, usage and metadata gathered over one stream."""

    def __init__(self, fmt: StreamFormat, session_id: str | None) -> None:
        self.fmt = fmt
        self.text: list[str] = []
        self.events = 0
        self.done = False
        self.usage: Usage | None = None
        self.finish: str | None = None
        self.session_id = session_id

    def json_event(self, payload: str | bytes) -> str:
        """Take one JSON event; return its text delta ('' when none)."""
        fmt = self.fmt
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            hint = "; set http.stream_path: null for plain-text events" if fmt.mode == "sse" else ""
            raise BadResponse(
                f"a {fmt.mode} stream event is not JSON: {' '.join(text.split())[:80]!r}{hint}"
            ) from None
        self.events += 1
        if fmt.error is not None:
            error = fmt.error(value)
            if error is not None and error is not False:
                detail = error if isinstance(error, str) else tojson(error)
                raise BadResponse(
                    f"the stream reported an error at error_path {fmt.error_expr!r}: {detail[:200]}"
                )
        if fmt.done_path is not None and fmt.done_path(value):
            self.done = True
        if fmt.usage is not None:
            self.usage = parse_usage(fmt.usage(value)) or self.usage
        if fmt.finish is not None:
            finish = fmt.finish(value)
            if isinstance(finish, str):
                self.finish = finish
        if fmt.session is not None:
            found = fmt.session(value)
            if found is not None and not isinstance(found, (dict, list)):
                self.session_id = str(found)
        delta = fmt.delta(value) if fmt.delta is not None else value
        if delta is None:
            return ""
        if not isinstance(delta, str):
            raise BadResponse(
                f"stream_path {fmt.delta_expr!r} matched {kind_name(delta)}, not a string; "
                "set http.stream_path to the text delta of each event"
            )
        return self.add(delta)

    def add(self, text: str) -> str:
        if text:
            self.text.append(text)
        return text

    def result(self, *, cut: bool) -> ChatResponse:
        fmt = self.fmt
        if cut:
            raise _truncated(f"the {fmt.mode} stream ended in the middle of an event")
        if fmt.terminated and not self.done:
            marker = (
                repr(fmt.done) if fmt.done is not None else "an event matching stream_done_path"
            )
            raise _truncated(f"the {fmt.mode} stream ended without its terminator {marker}")
        if self.events == 0 and not self.text:
            raise BadResponse(f"the {fmt.mode} stream ended without any data")
        fields: dict[str, Any] = {
            "text": "".join(self.text),
            "raw": {"stream": fmt.mode, "streamed_chunks": self.events},
        }
        if self.usage is not None:
            fields["usage"] = self.usage
        if self.finish is not None:
            fields["finish_reason"] = self.finish
        if self.session_id is not None:
            fields["session_id"] = self.session_id
        response: ChatResponse = ChatResponse.__pydantic_validator__.validate_python(fields)
        return response


def _truncated(message: str) -> BackendConnectionError:
    return BackendConnectionError(message, kind=ErrorKind.TRUNCATED_STREAM)


async def _chunks(resp: aiohttp.ClientResponse) -> AsyncGenerator[bytes, None]:
    """The body's chunks as they arrive, within ``runner.max_response_bytes`` (else too large)."""
    budget = StreamBudget()
    async for chunk in resp.content.iter_any():
        budget.add(len(chunk))
        yield chunk


async def read_stream(
    fmt: StreamFormat, resp: aiohttp.ClientResponse, session_id: str | None
) -> AsyncGenerator[TextDelta | ChatResponse, None]:
    """Text deltas as the body arrives, then the complete response (read to the end)."""
    if fmt.mode == "sse":
        content_type = resp.headers.get("Content-Type", "")
        if "event-stream" not in content_type:
            head = (await read_aiohttp(resp))[:80].decode("utf-8", "replace")
            raise BadResponse(
                f"expected an event stream (http.stream: sse), got "
                f"{content_type or 'no content type'}: {' '.join(head.split())!r}"
            )
    acc = _Collector(fmt, session_id)
    reader = {"sse": _sse, "ndjson": _ndjson, "chunked": _chunked}[fmt.mode]
    cut = False
    async with aclosing(reader(acc, resp)) as pieces:
        async for item in pieces:
            if item is None:
                cut = True
            elif item:
                yield TextDelta(text=item)
    yield acc.result(cut=cut)


async def _sse(acc: _Collector, resp: aiohttp.ClientResponse) -> AsyncGenerator[str | None, None]:
    fmt = acc.fmt
    parser = SSEParser()
    async for chunk in _chunks(resp):
        for event in parser.feed(chunk):
            if acc.done:
                continue  # read on to the end so the connection is reused
            if event.data == "[DONE]" or (
                fmt.done is not None and fmt.done in (event.data, event.event)
            ):
                acc.done = True
                continue
            if fmt.delta is None:
                acc.events += 1
                yield acc.add(event.data)
            else:
                yield acc.json_event(event.data)
    if parser.close() and not acc.done:
        yield None


async def _ndjson(
    acc: _Collector, resp: aiohttp.ClientResponse
) -> AsyncGenerator[str | None, None]:
    fmt = acc.fmt
    tail = b""
    async for chunk in _chunks(resp):
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        for raw in lines:
            line = raw.strip()
            if not line or acc.done:
                continue
            if fmt.done is not None and line.decode("utf-8", "replace") == fmt.done:
                acc.done = True
                continue
            yield acc.json_event(line)
    last = tail.strip()
    if last and not acc.done:
        if fmt.done is not None and last.decode("utf-8", "replace") == fmt.done:
            acc.done = True
            return
        try:
            orjson.loads(last)
        except orjson.JSONDecodeError:
            yield None  # the last line was cut mid-object
            return
        yield acc.json_event(last)


async def _chunked(
    acc: _Collector, resp: aiohttp.ClientResponse
) -> AsyncGenerator[str | None, None]:
    done = acc.fmt.done
    keep = len(done) - 1 if done else 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    held = ""
    async for chunk in _chunks(resp):
        if acc.done:
            continue
        acc.events += 1
        text = held + decoder.decode(chunk)
        if done is not None and done in text:
            acc.done = True
            held = ""
            yield acc.add(text[: text.index(done)])
            continue
        cut = max(0, len(text) - keep)
        held = text[cut:]
        yield acc.add(text[:cut])
    if not acc.done:
        yield acc.add(held + decoder.decode(b"", final=True))
