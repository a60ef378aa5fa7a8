r"""A server-sent events parser that follows the WHATWG HTML specification (section 9.2.6).

Feed it the bytes of an ``text/event-stream`` body as they arrive, in chunks split anywhere;
it returns the events each chunk completes. What the specification asks and this does:

- UTF-8 decoding across chunk boundaries (invalid bytes become U+FFFD) and one leading BOM
  dropped;
- lines ending in CRLF, LF or CR, including a CRLF split between two chunks;
- ``data:`` lines appended with ``\\n`` between them (multi-line data), one space after the
  colon removed, a field without a colon taken with an empty value;
- ``:`` comments (keep-alives) ignored; ``event:`` sets the type of the next event (default
  ``message``); ``id:`` sets the last event id (kept across events, ignored when it holds
  NUL); ``retry:`` with only ASCII digits sets the reconnection time; other fields ignored;
- a blank line dispatches the event, unless no ``data`` was given (the buffers reset).

At the end of the stream an event without its closing blank line is discarded, as the
specification says; ``close`` reports whether that happened, so a caller can call the
stream truncated rather than lose the end of an answer silently.

The ``openai`` backend keeps its own byte-level fast path (``openai_wire.SSELines``) for the
single-line ``data:`` events of the Chat Completions API.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event."""

    data: str
    """The data lines joined with ``\\n`` (no trailing newline)."""
    event: str = "message"
    """The event type (``event:`` field), ``message`` by default."""
    id: str = ""
    """The last event id at dispatch time (``id:`` fields persist across events)."""


class SSEParser:
    """Incremental parser: ``feed(chunk)`` returns the completed events, ``close()`` ends it."""

    __slots__ = (
        "_data",
        "_decoder",
        "_event",
        "_line",
        "_skip_lf",
        "_started",
        "last_event_id",
        "retry_ms",
    )

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = ""
        self._started = False
        self._skip_lf = False
        self._data: list[str] = []
        self._event = ""
        self.last_event_id = ""
        """The last ``id:`` seen (the value a reconnecting client sends as Last-Event-ID)."""
        self.retry_ms: int | None = None
        """The reconnection time from the last valid ``retry:`` field, in milliseconds."""

    def feed(self, chunk: bytes | str) -> list[SSEEvent]:
        """The events completed by ``chunk`` (bytes are decoded as UTF-8)."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        return self._text(text)

    def close(self) -> bool:
        """End the stream; True when an unfinished event (no closing blank line) was dropped."""
        rest = self._decoder.decode(b"", final=True)
        if rest:
            self._text(rest)
        if self._line:
            self._field(self._line)
            self._line = ""
        dropped = bool(self._data)
        self._reset()
        return dropped

    # -- internals ----------------------------------------------------------------------
    def _text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text[:1] == "\n":
                text = text[1:]
        if "\r" in text:
            # A CR at the end may be the first half of a CRLF split across two chunks.
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        if self._line:
            lines[0] = self._line + lines[0]
        self._line = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            if line:
                if line.startswith("data:"):  # the common case, without the general parse
                    value = line[5:]
                    self._data.append(value[1:] if value[:1] == " " else value)
                else:
                    self._field(line)
            elif self._data:
                events.append(
                    SSEEvent("\n".join(self._data), self._event or "message", self.last_event_id)
                )
                self._reset()
            else:
                self._reset()
        return events

    def _field(self, line: str) -> None:
        if line[0] == ":":
            return  # a comment
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)

    def _reset(self) -> None:
        self._data = []
        self._event = ""
