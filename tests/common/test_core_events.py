"""EventBus isolation, the progress display and the events log."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from chatbot_tester.common.events import (
    Event,
    EventBus,
    GenerationSkipped,
    ItemFinished,
    Notice,
    RetryScheduled,
    RunFinished,
    RunStarted,
    StageFinished,
    StageStarted,
)
from chatbot_tester.orchestrator.progress import EventLogWriter, ProgressDisplay


def test_events_are_frozen() -> None:
    ev = ItemFinished("run", "s1", True)
    with pytest.raises(AttributeError):
        ev.ok = False  # type: ignore[misc]
    assert ev.cached is False and ev.error_kind is None


def test_raising_sync_subscriber_does_not_stop_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    with caplog.at_level(logging.WARNING, logger="chatbot_tester.common.events"):
        for i in range(5):
            bus.emit(ItemFinished("run", str(i), True))
    assert [e.item_id for e in seen if isinstance(e, ItemFinished)] == ["0", "1", "2", "3", "4"]
    assert bus.failures == 5
    warnings = [r for r in caplog.records if "subscriber bug" in r.getMessage()]
    assert len(warnings) == 1  # logged once per subscriber


async def test_async_subscribers_awaited_and_isolated() -> None:
    bus = EventBus()
    got: list[str] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(0.01)
        assert isinstance(event, ItemFinished)
        got.append(event.item_id)

    async def broken(event: Event) -> None:
        await asyncio.sleep(0)
        raise ValueError("async subscriber bug")

    sync_seen: list[Event] = []
    bus.subscribe(broken)
    bus.subscribe(slow)
    bus.subscribe(sync_seen.append)
    for i in range(3):
        bus.emit(ItemFinished("run", str(i), True))
    assert len(sync_seen) == 3
    await bus.aclose()
    assert sorted(got) == ["0", "1", "2"]
    assert bus.failures == 3


def test_async_subscriber_without_loop_is_reported_not_raised() -> None:
    bus = EventBus()
    seen: list[Event] = []

    async def handler(event: Event) -> None:  # pragma: no cover - never runs
        seen.append(event)

    bus.subscribe(handler)
    bus.subscribe(seen.append)
    bus.emit(Notice("info", "x"))
    assert len(seen) == 1 and bus.failures == 1


def _run_events(n: int = 10) -> list[Event]:
    events: list[Event] = [RunStarted("r1", "demo"), StageStarted("run", n)]
    events.append(RetryScheduled("run", "s0", 1, 0.5, "rate limited"))
    for i in range(n):
        events.append(ItemFinished("run", f"s{i}", ok=i % 4 != 0, error_kind="timeout"))
    events.append(GenerationSkipped("faq", "unchanged"))
    events.append(Notice("warning", "leaked sk-abcdefghijklmnopqrstuvwxyz in a message"))
    events.append(StageFinished("run", 1.25, "completed", {"ok": 7, "errors": 3}))
    events.append(RunFinished("r1", "completed"))
    return events


def test_plain_progress_lines() -> None:
    out = io.StringIO()
    display = ProgressDisplay(stream=out, force_plain=True, plain_interval_s=3600)
    for ev in _run_events():
        display(ev)
    lines = out.getvalue().splitlines()
    assert lines[0] == "pipeline 'demo': run r1"
    assert lines[1] == "run: started, 10 items"
    assert lines[2] == "run: 1/10 done, 1 error, 1 retries"  # first item, then throttled
    assert "generate: skipped, reusing dataset 'faq' (unchanged)" in lines
    assert "warning: leaked *** in a message" in lines
    assert "run: completed in 1.2s, 10/10 done, 3 errors, 1 retries" in lines
    assert lines[-1] == "run r1: completed"
    assert len(lines) == 7  # throttling kept the 9 other items silent


def test_plain_when_not_a_tty_and_rich_on_terminal() -> None:
    assert ProgressDisplay(stream=io.StringIO()).rich is False
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    display = ProgressDisplay(console)
    assert display.rich is True
    for ev in _run_events():
        display(ev)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "run: completed in 1.2s, 10/10 done, 3 errors" in text
    assert "10/10" in text and "run r1: completed" in text


def test_event_log_writer(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventLogWriter(path, flush_interval_s=3600)
    writer(StageStarted("run", 3))
    writer(ItemFinished("run", "s1", True, latency_ms=2.5))
    assert path.read_bytes() == b""  # buffered: no syscall per event
    writer(StageFinished("run", 0.5, "completed", {"ok": 1}))
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert [x["event"] for x in lines] == ["StageStarted", "ItemFinished", "StageFinished"]
    assert lines[1] == {
        "ts": lines[1]["ts"],
        "event": "ItemFinished",
        "stage": "run",
        "item_id": "s1",
        "ok": True,
        "cached": False,
        "error_kind": None,
        "latency_ms": 2.5,
        "backend": None,
        "model": None,
        "input_tokens": None,
        "output_tokens": None,
    }
    assert lines[2]["counts"] == {"ok": 1}
    writer(Notice("info", "token Bearer abcdefghijklmnop"))
    writer.close()
    writer.close()
    last = orjson.loads(path.read_bytes().splitlines()[-1])
    assert last["message"] == "token Bearer ***"


async def test_event_log_writer_timer_flush(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventLogWriter(path, flush_interval_s=0.05)
    writer(ItemFinished("run", "s1", True))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if path.read_bytes():
            break
    assert b'"item_id":"s1"' in path.read_bytes()
    writer.close()


def test_subscribers_on_bus_together(tmp_path: Path) -> None:
    bus = EventBus()
    writer = EventLogWriter(tmp_path / "events.jsonl")
    bus.subscribe(ProgressDisplay(stream=io.StringIO(), force_plain=True))
    bus.subscribe(writer)
    for ev in _run_events(100):
        bus.emit(ev)
    writer.close()
    assert len((tmp_path / "events.jsonl").read_bytes().splitlines()) == 107
    assert bus.failures == 0
