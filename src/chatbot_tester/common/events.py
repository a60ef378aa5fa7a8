"""Frozen run events and the bus that delivers them to subscribers.

Progress bars, the ``events.jsonl`` log and tracing are all just subscribers. ``emit`` is
on the runner's hot path (~10k calls/s), so it is a plain loop: sync subscribers run inline,
async ones are scheduled as tasks and awaited in ``aclose``. A failing subscriber is logged
once and never affects the other subscribers or the run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallFinished",
    "Event",
    "EventBus",
    "GenerationSkipped",
    "ItemFinished",
    "Notice",
    "RetryScheduled",
    "RunFinished",
    "RunStarted",
    "StageFinished",
    "StageStarted",
    "Subscriber",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A pipeline run began (or was resumed)."""

    run_id: str
    pipeline: str


@dataclass(frozen=True, slots=True)
class StageStarted:
    """A stage (``generate``, ``run``, ``evaluate``, ``report``) began; ``total`` items if known."""

    stage: str
    total: int | None


@dataclass(frozen=True, slots=True)
class StageFinished:
    """A stage ended after ``seconds`` with ``status`` (completed, failed, ...) and counters."""

    stage: str
    seconds: float
    status: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ItemFinished:
    """One item of a stage (a sample, a record to score) is done, well or not."""

    stage: str
    item_id: str
    ok: bool
    cached: bool = False
    error_kind: str | None = None
    latency_ms: float | None = None
    backend: str | None = None
    """For a chatbot call: the backend, model and token usage (tracing subscribers use them)."""
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class CallFinished:
    """One attempt of a backend call ended (answered or failed); for tracing subscribers.

    Built only when a subscriber asked for it (``wants_call_events = True``), so a run
    without one pays a single attribute check per call. Times are wall-clock epoch
    nanoseconds around the attempt alone (no queueing, no backoff sleep).
    """

    stage: str
    item_id: str
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""
    ok: bool
    start_ns: int
    end_ns: int
    turn: int | None = None
    """The turn of a multi-turn sample (0-based), when the request says."""
    repeat: int | None = None
    """The repeat index, when the request says (``ItemFinished`` ids end ``#repeat``)."""
    error_kind: str | None = None
    backend: str | None = None
    model: str | None = None
    """The model asked for; ``response_model`` is the one that answered, when known."""
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """An attempt failed and the item will be retried after ``delay_s`` seconds."""

    stage: str
    item_id: str
    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class GenerationSkipped:
    """The generator reused an existing dataset instead of building it again."""

    dataset_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for the user (``level``: info, warning or error)."""

    level: str
    message: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The pipeline run ended with ``status`` (a ``RunStatus`` value)."""

    run_id: str
    status: str


Event = (
    RunStarted
    | StageStarted
    | StageFinished
    | ItemFinished
    | CallFinished
    | RetryScheduled
    | GenerationSkipped
    | Notice
    | RunFinished
)
"""Every event type published on the bus."""

Subscriber = Callable[[Event], Awaitable[None] | None]
"""A callable fed each event; it may return an awaitable, which the bus schedules.

One with a true ``wants_call_events`` attribute also gets ``CallFinished`` per attempt.
"""


class EventBus:
    """Synchronous fan-out of events to subscribers, isolating their failures."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self._failed: dict[int, int] = {}
        self._call_subscribers: list[Subscriber] = []
        self.wants_call_events = False
        """True while a subscriber asks for ``CallFinished`` (emitters check it first)."""

    def subscribe(self, fn: Subscriber) -> None:
        """Feed every later event to ``fn`` (sync, or async: scheduled as a task)."""
        self._subscribers.append(fn)
        if getattr(fn, "wants_call_events", False):
            self._call_subscribers.append(fn)
            self.wants_call_events = True

    def unsubscribe(self, fn: Subscriber) -> None:
        """Stop feeding events to ``fn`` (no error if it was not subscribed)."""
        if fn in self._subscribers:
            self._subscribers.remove(fn)
        if fn in self._call_subscribers:
            self._call_subscribers.remove(fn)
            self.wants_call_events = bool(self._call_subscribers)

    @property
    def failures(self) -> int:
        """How many subscriber calls have raised so far (for tests and diagnostics)."""
        return sum(self._failed.values())

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber; never raises because of a subscriber."""
        for fn in self._subscribers:
            try:
                result = fn(event)
            except Exception as exc:
                self._report(fn, exc)
                continue
            if result is not None:
                self._schedule(fn, result)

    def emit_call(self, event: CallFinished) -> None:
        """Deliver ``event`` only to the subscribers that asked for call events.

        The others (the ``events.jsonl`` log, progress, user hooks) never see one, so the
        log and their input stay as they were.
        """
        for fn in self._call_subscribers:
            try:
                result = fn(event)
            except Exception as exc:
                self._report(fn, exc)
                continue
            if result is not None:
                self._schedule(fn, result)

    def _schedule(self, fn: Subscriber, result: Awaitable[None]) -> None:
        if not inspect.isawaitable(result):
            return
        try:
            task = asyncio.ensure_future(result)
        except RuntimeError as exc:  # no running loop: cannot run an async subscriber here
            if inspect.iscoroutine(result):
                result.close()
            self._report(fn, exc)
            return
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(fn, t))

    def _task_done(self, fn: Subscriber, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and isinstance(exc, Exception):
            self._report(fn, exc)

    def _report(self, fn: Subscriber, exc: BaseException) -> None:
        key = id(fn)
        count = self._failed.get(key, 0)
        self._failed[key] = count + 1
        if count == 0:
            name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
            log.warning(
                "event subscriber %s failed (further failures are not logged): %s: %s",
                name,
                type(exc).__name__,
                exc,
                exc_info=exc if log.isEnabledFor(logging.DEBUG) else None,  # traceback: --debug
            )

    async def aclose(self) -> None:
        """Wait for the async subscribers' pending tasks (their errors are logged, not raised)."""
        while self._tasks:
            pending = list(self._tasks)
            await asyncio.gather(*pending, return_exceptions=True)
            for task in pending:
                self._tasks.discard(task)
