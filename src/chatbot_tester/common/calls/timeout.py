"""Hard wall-clock limits for backend attempts, cheap enough for the runner's hot path.

``asyncio.timeout`` schedules and cancels one timer per use (~5 us); ``anyio.fail_after``
costs ~15 us. Here every event loop has one watchdog: an attempt registers its deadline
in a set (well under a microsecond) and the watchdog's single timer fires at the earliest
deadline, cancels the attempts that are late, and re-arms for the next one. The cancelled
attempt sees ``TimeoutError`` (as with ``asyncio.timeout``); a cancellation from outside
(Ctrl-C, a cancelled task group) arriving at the same time still propagates, thanks to the
task's cancel counter (``Task.uncancel``, Python 3.11+). Python 3.10 uses
``anyio.fail_after`` instead.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from types import TracebackType
from typing import Any

__all__ = ["AttemptTimeout", "attempt_limit"]


class _Entry:
    __slots__ = ("deadline", "fired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[Any]) -> None:
        self.deadline = deadline
        self.task = task
        self.fired = False


class _Watchdog:
    """One per event loop: cancels registered attempts whose deadline has passed."""

    __slots__ = ("entries", "handle", "loop", "next_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.entries: set[_Entry] = set()
        self.handle: asyncio.TimerHandle | None = None
        self.next_at = float("inf")

    def add(self, entry: _Entry) -> None:
        self.entries.add(entry)
        if entry.deadline < self.next_at:
            if self.handle is not None:
                self.handle.cancel()
            self.next_at = entry.deadline
            self.handle = self.loop.call_at(entry.deadline, self._check)

    def _check(self) -> None:
        self.handle = None
        now = self.loop.time()
        nearest = float("inf")
        for entry in self.entries:
            if entry.fired:
                continue
            if entry.deadline <= now:
                entry.fired = True
                entry.task.cancel()
            elif entry.deadline < nearest:
                nearest = entry.deadline
        self.next_at = nearest
        if nearest != float("inf"):
            self.handle = self.loop.call_at(nearest, self._check)


_dogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = weakref.WeakKeyDictionary()
_current: tuple[asyncio.AbstractEventLoop | None, _Watchdog | None] = (None, None)


def _watchdog(loop: asyncio.AbstractEventLoop) -> _Watchdog:
    global _current
    cached_loop, dog = _current
    if cached_loop is loop and dog is not None:
        return dog
    dog = _dogs.get(loop)
    if dog is None:
        dog = _dogs[loop] = _Watchdog(loop)
    _current = (loop, dog)
    return dog


class AttemptTimeout(TimeoutError):
    """Raised by ``attempt_limit`` when its own limit fired (not a backend's timeout)."""


if sys.version_info >= (3, 11):

    class _Limit:
        """``with attempt_limit(s):`` around one attempt; raises ``AttemptTimeout`` when late."""

        __slots__ = ("_cancelling", "_dog", "_entry", "seconds")

        def __init__(self, seconds: float) -> None:
            self.seconds = seconds

        def __enter__(self) -> None:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task(loop)
            if task is None:  # pragma: no cover - always inside a task
                raise RuntimeError("attempt_limit must be used inside a task")
            self._cancelling = task.cancelling()
            self._dog = dog = _watchdog(loop)
            self._entry = entry = _Entry(loop.time() + self.seconds, task)
            dog.add(entry)

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            entry = self._entry
            self._dog.entries.discard(entry)
            if entry.fired and entry.task.uncancel() <= self._cancelling and exc_type is not None:
                raise AttemptTimeout from exc

else:  # pragma: no cover - Python 3.10

    class _Limit:
        __slots__ = ("_cm", "_scope", "seconds")

        def __init__(self, seconds: float) -> None:
            import anyio

            self.seconds = seconds
            self._cm = anyio.fail_after(seconds)

        def __enter__(self) -> None:
            self._scope = self._cm.__enter__()

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            try:
                self._cm.__exit__(exc_type, exc, tb)
            except TimeoutError as err:
                if self._scope.cancel_called:
                    raise AttemptTimeout from err
                raise


def attempt_limit(seconds: float) -> _Limit:
    """A context manager ending the enclosed await with ``AttemptTimeout`` after ``seconds``."""
    return _Limit(seconds)
