"""Event subscribers for humans and for the record: a progress display and the events log.

Both sit on the runner's hot path (one ``ItemFinished`` per sample), so each event costs a
few counter updates; redraws and disk writes are rate-limited.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import orjson

from chatbot_tester.common.artifacts.storage import write_all
from chatbot_tester.common.events import (
    Event,
    GenerationSkipped,
    ItemFinished,
    Notice,
    RetryScheduled,
    RunFinished,
    RunStarted,
    StageFinished,
    StageStarted,
)
from chatbot_tester.common.redact import redact

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["EventLogWriter", "ProgressDisplay"]


@dataclass
class _Stage:
    name: str
    total: int | None
    started: float
    done: int = 0
    errors: int = 0
    cached: int = 0
    retries: int = 0
    task: TaskID | None = None

    def summary(self) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        parts = [f"{count} done", f"{self.errors} error{'s' if self.errors != 1 else ''}"]
        if self.cached:
            parts.append(f"{self.cached} cached")
        if self.retries:
            parts.append(f"{self.retries} retries")
        return ", ".join(parts)


class ProgressDisplay:
    """Shows per-stage progress on stderr: a rich bar on a terminal, throttled lines otherwise.

    Subscribe it to an ``EventBus``. Plain mode (CI logs, pipes) prints at most one progress
    line per ``plain_interval_s``, a few a minute (``run: 120/400 done, 2 errors``); the bar is pushed to rich at most
    ten times a second, so a fast run is not slowed by drawing.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        force_plain: bool = False,
        plain_interval_s: float = 20.0,
        stream: TextIO | None = None,
    ) -> None:
        self._console = console
        self._stream = stream
        if force_plain:
            self.rich = False
        elif console is not None:
            self.rich = console.is_terminal
        else:
            target = stream if stream is not None else sys.stderr
            self.rich = bool(getattr(target, "isatty", lambda: False)())
        self._interval = 0.1 if self.rich else plain_interval_s
        self._next_draw = 0.0
        self._stages: dict[str, _Stage] = {}
        self._progress: Progress | None = None

    # -- subscriber -----------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Update the display for one event."""
        if type(event) is ItemFinished:
            stage = self._stages.get(event.stage) or self._start(event.stage, None)
            stage.done += 1
            if not event.ok:
                stage.errors += 1
            if event.cached:
                stage.cached += 1
            now = time.monotonic()
            if now >= self._next_draw:
                self._next_draw = now + self._interval
                self._draw(stage)
        elif isinstance(event, RetryScheduled):
            stage = self._stages.get(event.stage) or self._start(event.stage, None)
            stage.retries += 1
        elif isinstance(event, StageStarted):
            self._start(event.stage, event.total)
        elif isinstance(event, StageFinished):
            self._finish(event)
        elif isinstance(event, Notice):
            self._line(f"{event.level}: {redact(event.message)}")
        elif isinstance(event, GenerationSkipped):
            self._line(f"generate: skipped, reusing dataset '{event.dataset_id}' ({event.reason})")
        elif isinstance(event, RunStarted):
            self._line(f"pipeline '{event.pipeline}': run {event.run_id}")
        elif isinstance(event, RunFinished):
            self.close()
            self._line(f"run {event.run_id}: {event.status}")

    def close(self) -> None:
        """Stop the live bar (if any); later events still print."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- internals ------------------------------------------------------------------------
    def _start(self, name: str, total: int | None) -> _Stage:
        stage = _Stage(name, total, time.monotonic())
        old = self._stages.get(name)
        if old is not None and old.task is not None and self._progress is not None:
            self._progress.remove_task(old.task)
        self._stages[name] = stage
        if self.rich:
            progress = self._ensure_progress()
            stage.task = progress.add_task(name, total=total)
        else:
            self._line(f"{name}: started" + (f", {total} items" if total is not None else ""))
        return stage

    def _draw(self, stage: _Stage) -> None:
        if self.rich:
            if self._progress is not None and stage.task is not None:
                desc = stage.name + (f" [red]{stage.errors} errors[/]" if stage.errors else "")
                self._progress.update(stage.task, completed=stage.done, description=desc)
        else:
            self._line(f"{stage.name}: {stage.summary()}")

    def _finish(self, event: StageFinished) -> None:
        stage = self._stages.pop(event.stage, None)
        if stage is None:
            stage = _Stage(event.stage, None, time.monotonic())
        text = f"{event.stage}: {event.status} in {event.seconds:.1f}s, {stage.summary()}"
        if self.rich and self._progress is not None and stage.task is not None:
            total = stage.total if stage.total is not None else stage.done
            self._progress.update(
                stage.task, total=total, completed=stage.done, description=f"{text}"
            )
            self._progress.stop_task(stage.task)
        else:
            self._line(text)

    def _ensure_progress(self) -> Progress:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = self._console or Console(file=self._stream or sys.stderr)
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                refresh_per_second=5,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
        return self._progress

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        elif self._console is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            stream = self._stream or sys.stderr
            stream.write(text + "\n")
            stream.flush()


_FLUSH_NOW = (StageFinished, RunFinished)


class EventLogWriter:
    """Appends every event as one JSON line to ``events.jsonl``, buffered.

    Lines look like ``{"ts": "2026-11-24T11:22:33.123+00:00", "event": "ItemFinished",
    ...fields}``. The buffer is written with one ``os.write`` at each ``StageFinished`` and
    ``RunFinished``, when it passes ``max_buffer`` bytes, ``flush_interval_s`` after the
    first buffered event (a timer on the running event loop, if any) and on ``close``.
    """

    def __init__(
        self, path: Path, *, flush_interval_s: float = 1.0, max_buffer: int = 256 * 1024
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._buffer: list[bytes] = []
        self._size = 0
        self._interval = flush_interval_s
        self._max = max_buffer
        self._last_flush = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._ts_ms = -1
        self._ts_head = b""
        self.count = 0
        """Events written (or buffered) so far."""

    def __call__(self, event: Event) -> None:
        """Buffer one event; flush when due."""
        if self._fd is None:
            return
        line = self.encode(event)
        self._buffer.append(line)
        self._size += len(line)
        self.count += 1
        now = time.monotonic()
        if (
            isinstance(event, _FLUSH_NOW)
            or self._size >= self._max
            or now - self._last_flush >= self._interval
        ):
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self._interval, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        self.flush()

    def encode(self, event: Event) -> bytes:
        """One JSON line for ``event`` (free text of non-item events is redacted)."""
        now = time.time()
        ms = int(now * 1000)
        if ms != self._ts_ms:  # format the timestamp once per millisecond
            self._ts_ms = ms
            stamp = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")
            self._ts_head = b'{"ts":"' + stamp.encode() + b'","event":"'
        body = orjson.dumps(event, default=str)
        name = type(event).__name__.encode()
        line = self._ts_head + name + (b'",' + body[1:] if len(body) > 2 else b'"}') + b"\n"
        if type(event) is not ItemFinished:
            line = redact(line.decode()).encode()
        return line

    def flush(self) -> None:
        """Write buffered lines with a single ``os.write``."""
        self._last_flush = time.monotonic()
        if not self._buffer or self._fd is None:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        write_all(self._fd, data)

    def close(self) -> None:
        """Flush and close the file; idempotent."""
        if self._fd is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.flush()
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> EventLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
