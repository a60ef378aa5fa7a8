"""The Ray drivers' shards in flight: polled until each ends, stopped together on a failure.

Shared by the runner's and the evaluator's ``executor: ray`` drivers (neither imports the
other). A driver launches each shard attempt (its own record of what the shard holds) with
its Ray task's ref; ``step`` waits up to ``poll_s`` for an attempt to end, lets the driver
read what the running ones wrote so far (``on_poll``), then hands each attempt that ended to
``on_done`` (which may launch a retry). ``abandon`` stops them all when the driver fails or
is interrupted, and hands each to ``on_abandon`` to keep what it wrote. Which shard goes
next, and when, stays the driver's choice: the pool only holds and polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from chatbot_tester.errors import ChatbotTesterError, ExecutorError

__all__ = ["ShardPool", "raise_task_error"]

A = TypeVar("A")

_ABANDON_WAIT_S = 10.0
"""How long ``abandon`` waits for the cancelled tasks to end before keeping what they wrote."""


@dataclass(eq=False)
class ShardPool(Generic[A]):
    """The shard attempts whose Ray tasks are running, each with its task's ref."""

    ray: Any
    """The ``ray`` module (to cancel tasks)."""
    poll_s: float
    """The longest ``step`` waits for a task to end before polling the running ones."""
    on_poll: Callable[[list[A]], Awaitable[None]]
    """Called with the running attempts on every ``step``."""
    on_done: Callable[[A, asyncio.Future[Any]], Awaitable[None]]
    """Called with each attempt whose task ended, and the task's future (its result or error)."""
    on_abandon: Callable[[A], object]
    """Called with each attempt ``abandon`` stopped."""
    _in_flight: dict[asyncio.Future[Any], tuple[A, Any]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __len__(self) -> int:
        return len(self._in_flight)

    def launch(self, attempt: A, ref: Any) -> None:
        """Hold ``attempt`` until its task (``ref``, the task's ObjectRef) ends."""
        self._in_flight[asyncio.wrap_future(ref.future())] = (attempt, ref)

    async def step(self) -> None:
        """Wait up to ``poll_s`` for a task to end, poll the running ones, finish those ended.

        Call it only while an attempt is in flight.
        """
        finished, _ = await asyncio.wait(
            self._in_flight, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED
        )
        await self.on_poll([attempt for attempt, _ in self._in_flight.values()])
        for fut in finished:
            attempt, _ = self._in_flight.pop(fut)
            await self.on_done(attempt, fut)

    async def wait_for_slot(self, workers: int) -> None:
        """Step until fewer than ``workers`` attempts are in flight."""
        while len(self._in_flight) >= workers:
            await self.step()

    async def drain(self) -> None:
        """Step until no attempt is in flight (``on_done`` may launch retries meanwhile)."""
        while self._in_flight:
            await self.step()

    def cancel(self, *, force: bool = False) -> None:
        """Ask Ray to cancel every task in flight (their attempts still end through ``step``)."""
        for _, ref in self._in_flight.values():
            self.ray.cancel(ref, force=force)

    async def abandon(self) -> None:
        """Kill every task in flight, then hand each attempt to ``on_abandon`` and forget it."""
        if not self._in_flight:
            return
        self.cancel(force=True)
        await asyncio.wait(self._in_flight, timeout=_ABANDON_WAIT_S)
        for attempt, _ in self._in_flight.values():
            self.on_abandon(attempt)
        self._in_flight.clear()


def raise_task_error(ray: Any, exc: BaseException, shard: str) -> None:
    """Raise what ``shard``'s task failed with in its worker; return when the worker died.

    One of our errors (a bad config, a missing plugin) is raised as it is, any other error of
    the task as one ``ExecutorError`` line naming ``shard``. A lost worker, or one interrupted,
    returns: the driver may send the shard again.
    """
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, ChatbotTesterError):
            raise cause
        if not isinstance(cause, KeyboardInterrupt):
            raise ExecutorError(f"{shard} failed in its worker: {exc}")
