"""Waiting on code that may never give control back: a blocked thread, a deaf coroutine.

``run_in_daemon_thread`` runs a sync function in a daemon thread of its own and awaits its
result; a cancellation (an attempt's ``timeout_s``, Ctrl-C) returns at once and abandons the
thread, which cannot keep the process from exiting. ``await_abandoning`` awaits a coroutine
as a task; when cancelled it cancels the task and waits at most ``grace_s`` for it to end,
then abandons it, so a coroutine that swallows ``CancelledError`` cannot hold up a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["ABANDON_GRACE_S", "await_abandoning", "run_in_daemon_thread"]

T = TypeVar("T")

ABANDON_GRACE_S = 1.0
"""How long a cancelled coroutine may take to end before it is abandoned."""

_abandoned: set[asyncio.Task[Any]] = set()  # strong references to tasks left running


async def run_in_daemon_thread(func: Callable[[], T]) -> T:
    """``func()`` in a new daemon thread; cancelling the await abandons the thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = context.run(func)
        except BaseException as exc:
            outcome: tuple[T | None, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        with contextlib.suppress(RuntimeError):  # the loop closed while the thread was blocked
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name="chatbot-tester python backend", daemon=True).start()
    return await future


async def await_abandoning(awaitable: Awaitable[T], grace_s: float = ABANDON_GRACE_S) -> T:
    """Await ``awaitable`` as a task; on cancellation give it ``grace_s`` to stop, then leave it."""
    task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        done, _ = await _wait_uncancellable(task, grace_s)
        if done:
            if not task.cancelled():
                task.exception()  # retrieved: the caller was cancelled, the outcome is dropped
        elif isinstance(task, asyncio.Task):
            _abandoned.add(task)
            task.add_done_callback(_abandoned.discard)
        raise


async def _wait_uncancellable(
    task: asyncio.Future[Any], grace_s: float
) -> tuple[set[asyncio.Future[Any]], set[asyncio.Future[Any]]]:
    """``asyncio.wait`` for the grace period (a second cancel still ends the wait)."""
    try:
        done, pending = await asyncio.wait({task}, timeout=grace_s)
    except asyncio.CancelledError:
        return set(), {task}
    return set(done), set(pending)
