"""One shard of a distributed run, as a worker process runs it: the same ``run_job``, shared limits.

A shard attempt runs ``run_job`` over its samples into its own part file
(``shards/part-<shard>-<attempt>.jsonl`` in the run directory); the driver merges part files
into ``results.jsonl``. Concurrency slots, rate-limit start times and budget reservations are
asked of the run's ``Coordinator`` actor through proxies (``common.calls.remote_limits``
and ``_RemoteBudget`` below) that keep the local classes' interfaces, so the runner cannot
tell. Progress events go to the coordinator in batches (every ``_PUSH_S``) for the driver
to re-emit. The run's response cache (one SQLite file in WAL mode, shared by every worker
process) is used by workers on the driver's host.

Nothing here imports Ray: the coordinator is a Ray actor handle (``handle.method.remote``
returns an awaitable reference).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from chatbot_tester.common.calls.remote_limits import LeasedConcurrency, RemoteRate
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.common.events import Event, EventBus, ItemFinished, RetryScheduled
from chatbot_tester.common.schemas import TestSample, Usage
from chatbot_tester.runner.budget import CostBudget

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache

__all__ = ["ShardOutcome", "ShardSpec", "run_shard", "run_shard_sync"]

_PUSH_S = 0.2
"""How often a worker hands its progress events to the coordinator."""


class ShardSpec(BaseModel):
    """What one shard attempt runs."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    shard: int
    """Shard number within this invocation of the driver."""
    attempt: int
    """0 for the first try; a retry after a worker died counts up."""
    samples: list[TestSample]
    """The shard's samples (each has at least one repeat without a record)."""
    done: frozenset[tuple[str, int]]
    """Keys of these samples already recorded (skipped)."""
    config: RunnerConfig
    """The runner configuration (``${ENV}`` references resolved in the worker)."""
    base_dir: Path
    """Directory that relative paths in backend options refer to."""
    part: Path
    """The part file this attempt writes."""
    cache: Path | None = None
    """The run's response cache (SQLite file), used when this worker is on ``cache_host``."""
    cache_host: str | None = None
    """Host name of the driver: the cache file is on its disk (SQLite needs a local one)."""

    @property
    def token(self) -> str:
        """The coordinator's name for this attempt."""
        return f"{self.shard}-{self.attempt}"


class ShardOutcome(BaseModel):
    """How a shard attempt ended (its records are in its part file)."""

    model_config = ConfigDict(extra="forbid")

    status: str
    message: str | None = None
    written: int = 0


class _RemoteBudget(CostBudget):
    """A ``CostBudget`` whose spend and reservations are the coordinator's."""

    def __init__(self, coordinator: Any, token: str) -> None:  # no local accounting at all
        self._coordinator = coordinator
        self._token = token
        self._message = ""

    async def admit(self, sample: TestSample) -> float | None:
        admitted: float | None = await self._coordinator.admit.remote(self._token, sample)
        if admitted is None:
            self._message = await self._coordinator.budget_message.remote()
        return admitted

    def settle(
        self, reserved: float, cost: float | None, usage: Usage | None, calls: int = 1
    ) -> None:
        self._coordinator.settle.remote(self._token, reserved, cost, usage, calls)

    def release(self, reserved: float) -> None:
        self._coordinator.unreserve.remote(self._token, reserved)

    @property
    def message(self) -> str:
        return self._message


class _EventPump:
    """Collects the progress events of a shard and pushes them to the coordinator in batches."""

    def __init__(self, coordinator: Any, token: str) -> None:
        self._coordinator = coordinator
        self._token = token
        self._pending: list[Event] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, (ItemFinished, RetryScheduled)):
            self._pending.append(event)

    async def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            await self._coordinator.push.remote(self._token, batch)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(_PUSH_S)
            await self.flush()


async def run_shard(coordinator: Any, spec: ShardSpec) -> ShardOutcome:
    """Run one shard attempt with the run's shared limits; its records go to ``spec.part``."""
    from chatbot_tester.runner.run import ShardContext, run_job

    token = spec.token
    await coordinator.started.remote(token, os.getpid())
    config = spec.config
    concurrency = LeasedConcurrency(
        coordinator, token, config.concurrency, adaptive=config.adaptive_concurrency
    )
    rate_config = config.rate_limit
    limited = (
        rate_config.requests_per_minute is not None or rate_config.tokens_per_minute is not None
    )
    context = ShardContext(
        concurrency=concurrency,
        rate=RemoteRate(coordinator) if limited else None,
        budget=_RemoteBudget(coordinator, token) if config.max_cost_usd is not None else None,
        done=spec.done,
    )
    bus = EventBus()
    pump = _EventPump(coordinator, token)
    bus.subscribe(pump)
    spec.part.parent.mkdir(parents=True, exist_ok=True)
    cache = _open_cache(spec)
    pusher = asyncio.create_task(pump.run())
    try:
        summary = await run_job(
            spec.samples,
            config,
            spec.part,
            base_dir=spec.base_dir,
            bus=bus,
            cache=cache,
            shard=context,
        )
    finally:
        if cache is not None:
            cache.close()
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pusher
        await concurrency.aclose()
        await bus.aclose()
        await pump.flush()
        await coordinator.finished.remote(token)
    return ShardOutcome(status=summary.status, message=summary.message, written=summary.completed)


def _open_cache(spec: ShardSpec) -> ResponseCache | None:
    """The run's response cache, when this worker shares the driver's disk."""
    if spec.cache is None or socket.gethostname() != spec.cache_host:
        return None
    from chatbot_tester.common.artifacts.cache import ResponseCache

    return ResponseCache(spec.cache)


def run_shard_sync(coordinator: Any, spec: ShardSpec) -> ShardOutcome:
    """The Ray task's body: one event loop for the attempt (created here, nowhere else)."""
    return asyncio.run(run_shard(coordinator, spec))
