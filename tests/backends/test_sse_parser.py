"""The spec-following SSE parser: every rule of WHATWG HTML 9.2.6 that a chat stream meets."""

from __future__ import annotations

import pytest

from chatbot_tester.common.backends.sse import SSEEvent, SSEParser


def parse(*chunks: bytes | str) -> tuple[list[SSEEvent], SSEParser, bool]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    dropped = parser.close()
    return events, parser, dropped


def test_single_event_and_default_type() -> None:
    events, _, dropped = parse(b"data: hello\n\n")
    assert events == [SSEEvent("hello", "message", "")]
    assert not dropped


def test_multi_line_data_is_joined_with_newlines() -> None:
    events, _, _ = parse(b"data: line one\ndata: line two\ndata:\ndata:  indented\n\n")
    assert [e.data for e in events] == ["line one\nline two\n\n indented"]


def test_only_one_space_after_the_colon_is_removed_and_no_colon_means_empty_value() -> None:
    events, _, _ = parse(b"data:no-space\n\ndata\n\n")
    assert [e.data for e in events] == ["no-space", ""]


def test_comments_are_ignored() -> None:
    events, _, _ = parse(b": keep-alive\n\n:another\ndata: x\n: inside\n\n")
    assert [e.data for e in events] == ["x"]


def test_event_type_applies_to_the_next_event_only() -> None:
    events, _, _ = parse(b"event: delta\ndata: a\n\ndata: b\n\n")
    assert [(e.event, e.data) for e in events] == [("delta", "a"), ("message", "b")]


def test_event_without_data_is_not_dispatched_and_resets_the_type() -> None:
    events, _, _ = parse(b"event: ping\n\ndata: after\n\n")
    assert [(e.event, e.data) for e in events] == [("message", "after")]


def test_id_persists_across_events_and_nul_is_ignored() -> None:
    events, parser, _ = parse(
        b"id: 7\ndata: a\n\ndata: b\n\nid: bad\x00id\ndata: c\n\nid\ndata: d\n\n"
    )
    assert [e.id for e in events] == ["7", "7", "7", ""]
    assert parser.last_event_id == ""


def test_retry_takes_digits_only() -> None:
    _, parser, _ = parse(b"retry: 1500\n\n")
    assert parser.retry_ms == 1500
    _, parser, _ = parse(b"retry: 1500\nretry: 2s\nretry: -1\n\n")
    assert parser.retry_ms == 1500


def test_unknown_fields_are_ignored() -> None:
    events, _, _ = parse(b"foo: bar\ndata: x\nDATA: y\n\n")
    assert [e.data for e in events] == ["x"]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol: bytes) -> None:
    body = eol.join([b"event: e", b"data: one", b"data: two", b"", b"data: three", b"", b""])
    events, _, dropped = parse(body)
    assert [(e.event, e.data) for e in events] == [("e", "one\ntwo"), ("message", "three")]
    assert not dropped


def test_mixed_line_endings() -> None:
    events, _, _ = parse(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r")
    assert [e.data for e in events] == ["a\nb\nc", "d"]


def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    # "data: a\r" | "\n\r\n": a CR at a chunk end followed by LF must not make a blank line.
    events, _, _ = parse(b"data: a\r", b"\ndata: b\r", b"\n\r\n")
    assert [e.data for e in events] == ["a\nb"]


def test_leading_bom_is_dropped_once() -> None:
    events, _, _ = parse("\ufeffdata: x\n\n".encode())
    assert [e.data for e in events] == ["x"]
    # Split BOM bytes, and a second BOM is data.
    events, _, _ = parse(b"\xef\xbb", b"\xbfdata: \xef\xbb\xbfy\n\n")
    assert [e.data for e in events] == ["\ufeffy"]


def test_events_split_anywhere_across_chunks() -> None:
    body = 'event: delta\ndata: {"t": "héllo"}\n\ndata: [DONE]\n\n'.encode()
    whole, _, _ = parse(body)
    for size in (1, 2, 3, 5, 7):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        events, _, dropped = parse(*chunks)
        assert events == whole and not dropped
    assert [e.data for e in whole] == ['{"t": "héllo"}', "[DONE]"]


def test_multibyte_character_split_between_chunks() -> None:
    raw = "data: 日本\n\n".encode()
    events, _, _ = parse(raw[:7], raw[7:])
    assert [e.data for e in events] == ["日本"]


def test_unfinished_event_at_the_end_is_dropped_and_reported() -> None:
    events, _, dropped = parse(b"data: a\n\ndata: partial")
    assert [e.data for e in events] == ["a"] and dropped
    events, _, dropped = parse(b"data: a\n\ndata: b\n")
    assert [e.data for e in events] == ["a"] and dropped
    _, _, dropped = parse(b"data: a\n\n: trailing comment")
    assert not dropped


def test_feed_returns_events_as_soon_as_they_complete() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\n") == [SSEEvent("a")]
    assert parser.feed("data: b\n\n") == [SSEEvent("b")]
