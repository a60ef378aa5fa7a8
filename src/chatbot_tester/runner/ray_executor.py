"""``runner.executor: ray``: the driver that runs a dataset in shards over a Ray cluster.

The driver streams the dataset, keeps the samples that still lack a record (the resume logic
of the local runner: ``results.jsonl``'s keys), and cuts them into shards of
``ray.shard_size``. At most ``ray.num_workers`` shards run at once, each a Ray task running
``run_job`` (``runner.shard``) into its own part file ``shards/part-<shard>-<attempt>.jsonl``.
One ``Coordinator`` actor holds the run's concurrency, rate limit and budget for all of them.

Exactly once: only the driver writes ``results.jsonl``, and it appends a record only when its
(sample id, repeat) is not there yet. When a shard's task ends (well, or because its worker
died) its part file is merged that way and deleted; a shard whose worker died is sent again
with just its samples still lacking a record (up to ``ray.max_shard_retries`` times). A new
driver (``--resume`` after the driver died) first merges every part file left behind, so
records already paid for are kept and never sent again.

Memory: the driver holds no records, only ``num_workers`` shards of samples and, for the
whole run, a 16-byte digest per recorded key and per sample id (``runner.keyset``): ~32 MB
at a million samples instead of ~250 MB of Python sets. With ``runner.cache`` the workers on
the driver's host share the workspace's response cache (one SQLite file in WAL mode).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.common.events import Notice, StageFinished, StageStarted
from chatbot_tester.common.ray_cluster import connect, import_ray
from chatbot_tester.common.ray_shards import ShardPool, raise_task_error
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.common.validation import duplicate_id_error
from chatbot_tester.errors import ExecutorError, ResumeError
from chatbot_tester.runner.coordinator import Coordinator, budget_for
from chatbot_tester.runner.keyset import CompactKeys
from chatbot_tester.runner.ray_events import EventRelay
from chatbot_tester.runner.resume import ResultsState, load_results
from chatbot_tester.runner.run import RunStatusName, RunSummary, count_samples
from chatbot_tester.runner.shard import ShardOutcome, ShardSpec, run_shard_sync
from chatbot_tester.runner.shard_merge import PartMerger

if TYPE_CHECKING:
    from chatbot_tester.common.config import RunnerConfig
    from chatbot_tester.common.events import EventBus

__all__ = ["COORDINATOR_PREFIX", "SHARDS_DIR", "run_on_ray"]

SHARDS_DIR = "shards"
"""Folder of the part files, beside ``results.jsonl``."""
COORDINATOR_PREFIX = "chatbot-tester-coordinator-"
"""Name prefix of a run's coordinator actor (a named actor, so tools can find it)."""
_DRAIN_S = 0.25
"""How often the driver re-emits the workers' progress events."""


@dataclass
class _Attempt:
    shard: int
    attempt: int
    samples: list[TestSample]
    done: frozenset[tuple[str, int]]


async def run_on_ray(
    dataset_path: Path,
    config: RunnerConfig,
    results_path: Path,
    *,
    base_dir: Path,
    bus: EventBus | None = None,
    resume: bool = False,
    cache_path: Path | None = None,
) -> RunSummary:
    """Run ``dataset_path`` over a Ray cluster into ``results_path``, each key exactly once.

    ``cache_path`` is the response cache's SQLite file, shared by the workers on this host.
    """
    started = perf_counter()
    ray = import_ray(local=config.ray.address is None)
    results_path = Path(results_path)
    shards_dir = results_path.parent / SHARDS_DIR
    leftovers = shards_dir.is_dir() and any(shards_dir.glob("part-*.jsonl"))
    exists = results_path.exists() and results_path.stat().st_size > 0
    if (exists or leftovers) and not resume:
        raise ResumeError(
            f"{results_path} already holds results: resume it (--resume) or write elsewhere"
        )
    state = load_results(results_path, CompactKeys())
    merger = PartMerger(results_path, state)
    try:
        merger.merge_leftovers(shards_dir)
        merger.merged = 0
        owned = connect(ray, config.ray)
        driver: _Driver | None = None
        try:
            driver = _Driver(
                ray, config, Path(dataset_path), state, merger, bus, base_dir, shards_dir
            )
            if cache_path is not None:
                driver.use_cache(Path(cache_path))
            return await driver.run(started)
        finally:
            if owned:
                ray.shutdown()
            elif driver is not None:  # a cluster that outlives the run keeps no actor of it
                ray.kill(driver.coordinator)
    finally:
        merger.close()


class _Driver:
    """Dispatches shards, merges their part files, retries dead workers' shards, re-emits events."""

    def __init__(
        self,
        ray: Any,
        config: RunnerConfig,
        dataset: Path,
        state: ResultsState,
        merger: PartMerger,
        bus: EventBus | None,
        base_dir: Path,
        shards_dir: Path,
    ) -> None:
        self.ray = ray
        self.config = config
        self.dataset = dataset
        self.state = state
        self.merger = merger
        self.bus = bus
        self.base_dir = base_dir
        self.shards_dir = shards_dir
        """Where the part files go."""
        self.existing = len(state.done)
        self.status: RunStatusName = "completed"
        self.message: str | None = None
        self.stop = False
        self.cache: Path | None = None
        self.host = socket.gethostname()
        self.task = ray.remote(num_cpus=1, max_retries=0)(run_shard_sync)
        tally = state.tally
        budget = budget_for(
            config,
            spent_usd=tally.cost_usd,
            completion_tokens=tally.completion_tokens,
            answers=tally.answered_calls,
        )
        self.coordinator_name = COORDINATOR_PREFIX + uuid4().hex[:12]
        self.coordinator = (
            ray.remote(Coordinator)
            .options(
                name=self.coordinator_name,
                num_cpus=0,
                max_concurrency=max(1000, 4 * config.concurrency + 64),
            )
            .remote(config, budget)
        )
        self.relay = EventRelay(bus, self.coordinator, config.repeat)
        self.retries: deque[_Attempt] = deque()
        """Shards whose worker died, sent again before the next new shard."""
        self.pool: ShardPool[_Attempt] = ShardPool(
            ray,
            poll_s=_DRAIN_S,
            on_poll=lambda _running: self.relay.drain(),
            on_done=self._finish,
            on_abandon=lambda attempt: self.merger.merge(self._part(attempt)),
        )

    def use_cache(self, path: Path) -> None:
        """Let the workers share the response cache at ``path`` (created here, in WAL mode)."""
        from chatbot_tester.common.artifacts.cache import ResponseCache

        ResponseCache(path).close()
        self.cache = path

    def _shards(self) -> Iterator[tuple[list[TestSample], frozenset[tuple[str, int]]]]:
        """The samples still lacking a record, in shards, with their keys already recorded."""
        repeat = self.config.repeat
        size = self.config.ray.shard_size
        done = self.state.done
        resuming = len(done) > 0
        ids = CompactKeys()
        batch: list[TestSample] = []
        recorded: set[tuple[str, int]] = set()
        for sample in iter_jsonl(self.dataset, TestSample):
            sid = sample.id
            if not ids.add((sid, 0)):
                raise duplicate_id_error(sid, file=self.dataset)
            if not resuming:
                batch.append(sample)
                if len(batch) >= size:
                    yield batch, frozenset()
                    batch = []
                continue
            have = [(sid, r) for r in range(repeat) if (sid, r) in done]
            if len(have) == repeat:
                continue
            batch.append(sample)
            recorded.update(have)
            if len(batch) >= size:
                yield batch, frozenset(recorded)
                batch, recorded = [], set()
        if batch:
            yield batch, frozenset(recorded)

    def _part(self, attempt: _Attempt) -> Path:
        return self.shards_dir / f"part-{attempt.shard}-{attempt.attempt}.jsonl"

    def _submit(self, attempt: _Attempt) -> None:
        spec = ShardSpec(
            shard=attempt.shard,
            attempt=attempt.attempt,
            samples=attempt.samples,
            done=attempt.done,
            config=self.config,
            base_dir=self.base_dir,
            part=self._part(attempt),
            cache=self.cache,
            cache_host=self.host,
        )
        self.pool.launch(attempt, self.task.remote(self.coordinator, spec))

    def _halt(self, status: RunStatusName, message: str | None) -> None:
        if self.status == "completed":
            self.status, self.message = status, message
        self.stop = True

    async def run(self, started: float) -> RunSummary:
        """Dispatch every shard to the end (or a stop), merge, and summarise."""
        repeat = self.config.repeat
        total = count_samples(self.dataset) * repeat
        bus = self.bus
        if bus is not None:
            if self.cache is not None and self.config.ray.address is not None:
                where = f"on {self.host} only (the SQLite file needs a local disk)"
                bus.emit(Notice("info", f"runner.cache is used by the Ray workers {where}"))
            bus.emit(StageStarted("run", max(0, total - self.existing)))
        shards = self._shards()
        pool, retries = self.pool, self.retries
        index = 0
        try:
            while True:
                while not self.stop and len(pool) < self.config.ray.num_workers:
                    attempt = retries.popleft() if retries else None
                    if attempt is None:
                        nxt = next(shards, None)
                        if nxt is None:
                            break
                        attempt = _Attempt(index, 0, *nxt)
                        index += 1
                    self._submit(attempt)
                if not pool:
                    break
                await pool.step()
            await self.relay.drain()
        except BaseException as exc:
            await pool.abandon()  # the records the shards wrote are kept
            if bus is not None and isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
                bus.emit(StageFinished("run", perf_counter() - started, "interrupted", {}))
            raise
        summary = self._summary(total, perf_counter() - started)
        if bus is not None:
            counts = {"records": summary.completed, "ok": summary.ok, "errors": summary.errors}
            bus.emit(StageFinished("run", summary.seconds, summary.status, counts))
        return summary

    async def _finish(self, attempt: _Attempt, fut: asyncio.Future[Any]) -> None:
        ray = self.ray
        exc = fut.exception()
        token = f"{attempt.shard}-{attempt.attempt}"
        self.merger.merge(self._part(attempt), lambda obj: self.relay.merged(token, obj))
        self.relay.close(token)
        if exc is None:
            outcome: ShardOutcome = fut.result()
            if outcome.status == "aborted":
                self._halt("aborted", outcome.message)
                self.pool.cancel()
            elif outcome.status == "budget_exhausted":
                self._halt("budget_exhausted", outcome.message)
            return
        await self.coordinator.reclaim.remote(token)
        if self.stop and isinstance(exc, ray.exceptions.TaskCancelledError):
            return
        raise_task_error(ray, exc, f"shard {attempt.shard}")
        done = self.state.done
        repeat = self.config.repeat
        remaining = [
            s for s in attempt.samples if any((s.id, r) not in done for r in range(repeat))
        ]
        if not remaining:
            return
        if attempt.attempt >= self.config.ray.max_shard_retries:
            raise ExecutorError(
                f"shard {attempt.shard} lost its worker {attempt.attempt + 1} times "
                f"({type(exc).__name__}); the run is resumable (--resume)"
            )
        if self.bus is not None:
            self.bus.emit(
                Notice(
                    "warning",
                    f"the worker running shard {attempt.shard} died ({type(exc).__name__}); "
                    f"sending its {len(remaining)} samples without a record again",
                )
            )
        recorded = frozenset(
            (s.id, r) for s in remaining for r in range(repeat) if (s.id, r) in done
        )
        self.retries.append(_Attempt(attempt.shard, attempt.attempt + 1, remaining, recorded))

    def _summary(self, total: int, seconds: float) -> RunSummary:
        return RunSummary.of(
            self.state.tally,
            status=self.status,
            total=total,
            completed=self.merger.merged,
            existing=self.existing,
            seconds=seconds,
            message=self.message,
        )
