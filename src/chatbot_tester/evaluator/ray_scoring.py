"""``evaluator.executor: ray``: the scoring pass in shards over a Ray cluster, each score once.

The driver plans the records as a local evaluation does (``score_pass.plan_records``: scores
on file are reused, the summary counts every record) and cuts the records that still need
scores into shards of ``ray.shard_size``. At most ``ray.num_workers`` shards run at once,
each a Ray task (``evaluator.ray_shard``) that builds the metrics in its worker and appends
its scores to its own part file. One ``JudgeCoordinator`` actor holds the judges'
concurrency and rate limits for all of them.

Exactly once: only the driver writes ``scores.jsonl``. Every unit waiting for a score is
keyed by its fingerprint (metric configuration, record identity, turn: one per sample id,
repeat, metric and turn); a part-file line is merged only while its unit is still waiting,
so a score is never counted twice. Part files are read as they grow (progress as scores
land) and deleted when their attempt ends; a shard whose worker died is sent again with just
the scores it still lacks (up to ``ray.max_shard_retries`` times). Part files a killed driver
left behind are added to ``scores.jsonl`` by the next (resumed) evaluation, so judge calls
already paid for are reused, not made again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from chatbot_tester.common.artifacts.jsonl import JsonlAppender, repair_torn_tail
from chatbot_tester.common.config import EvaluatorConfig, RayConfig
from chatbot_tester.common.events import EventBus, Notice
from chatbot_tester.common.ray_cluster import connect, import_ray
from chatbot_tester.common.ray_shards import ShardPool, raise_task_error
from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ExecutorError
from chatbot_tester.evaluator.metrics.base import MetricContext
from chatbot_tester.evaluator.metrics.judge_client import absorb_spend
from chatbot_tester.evaluator.ray_coordinator import JudgeCoordinator
from chatbot_tester.evaluator.ray_shard import (
    ScoreShardOutcome,
    ScoreShardSpec,
    ShardItem,
    score_shard_sync,
)
from chatbot_tester.evaluator.score_pass import Pending, Scorer, Unit

__all__ = ["COORDINATOR_PREFIX", "SCORE_SHARDS_DIR", "RayScoring", "absorb_leftovers"]

SCORE_SHARDS_DIR = "score-shards"
"""Folder of the scoring part files, beside ``scores.jsonl``."""
COORDINATOR_PREFIX = "chatbot-tester-judges-"
"""Name prefix of an evaluation's coordinator actor (a named actor, so tools can find it)."""
_TAIL_S = 0.25
"""How often the driver reads the part files of the running shards."""


def absorb_leftovers(shards_dir: Path, scores_path: Path, *, resume: bool) -> int:
    """Add the part files a killed driver left behind to ``scores_path`` (or drop them); lines added."""
    if not shards_dir.is_dir():
        return 0
    added = 0
    with JsonlAppender(scores_path) as appender:
        for part in sorted(shards_dir.glob("part-*.jsonl")):
            if resume:
                repair_torn_tail(part)
                lines = [ln if ln.endswith(b"\n") else ln + b"\n" for ln in _lines(part)]
                appender.write_lines(lines)
                added += len(lines)
            part.unlink()
    return added


def _lines(part: Path) -> Iterator[bytes]:
    with part.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                yield raw


class _Tail:
    """Reads the complete lines a running worker appended to its part file since last time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self, *, final: bool = False) -> list[bytes]:
        """New complete lines; ``final`` (the writer is gone) also takes a last unterminated object."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        lines = data[:end].splitlines()
        self.offset += end
        rest = data[end:]
        if final and rest.strip():
            lines.append(rest)  # validated by the merge: a torn line is dropped there
        return [ln for ln in lines if ln.strip()]


@dataclass
class _Attempt:
    shard: int
    attempt: int
    items: list[ShardItem]
    shards_dir: Path

    def __post_init__(self) -> None:
        self.token = f"{self.shard}-{self.attempt}"
        self.tail = _Tail(self.shards_dir / f"part-{self.token}.jsonl")


@dataclass(frozen=True)
class RayScoring:
    """What the shards of one evaluation share: its config, cluster settings and context."""

    config: EvaluatorConfig
    settings: RayConfig
    context: MetricContext
    """The driver's context: judge, workspace, base dir, cache (and the spend, merged here)."""
    concurrency: int
    """Metric calls in flight per worker."""
    shards_dir: Path
    bus: EventBus | None = None
    plugins: tuple[str, ...] = ()
    """``plugins:`` the workers import (relative to the context's base dir)."""

    async def run(self, planned: Iterator[tuple[Pending, list[Unit]]], scorer: Scorer) -> None:
        """Score every planned unit on the cluster; each score reaches ``scorer`` once."""
        driver = _Driver(self, scorer)
        try:
            await driver.run(planned)
        finally:
            driver.close()


class _Driver:
    """Dispatches shards, merges their part files, sends dead workers' shards again."""

    def __init__(self, job: RayScoring, scorer: Scorer) -> None:
        self.job = job
        self.scorer = scorer
        self.waiting: dict[str, Unit] = {}
        """Units without a merged score, by fingerprint (only those of dispatched shards)."""
        self.pool: ShardPool[_Attempt] | None = None
        """The shards in flight (made with the cluster, on the first shard)."""
        self.shards = 0
        self.ray: Any = None
        self.owned = False
        self.coordinator: Any = None
        self.task: Any = None

    def _start(self) -> ShardPool[_Attempt]:
        """Join or start the cluster and the coordinator (on the first shard, not before)."""
        settings = self.job.settings
        self.ray = ray = import_ray(local=settings.address is None, where="evaluator.executor")
        self.owned = connect(ray, settings)
        self.task = ray.remote(num_cpus=1, max_retries=0)(score_shard_sync)
        self.coordinator = (
            ray.remote(JudgeCoordinator)
            .options(name=COORDINATOR_PREFIX + uuid4().hex[:12], num_cpus=0, max_concurrency=1000)
            .remote()
        )
        return ShardPool(
            ray,
            poll_s=_TAIL_S,
            on_poll=self._poll,
            on_done=self._finish,
            on_abandon=self._close_part,
        )

    def close(self) -> None:
        if self.ray is None:
            return
        if self.owned:
            self.ray.shutdown()
        elif self.coordinator is not None:
            self.ray.kill(self.coordinator)
        self.ray = self.pool = None

    async def run(self, planned: Iterator[tuple[Pending, list[Unit]]]) -> None:
        size = self.job.settings.shard_size
        batch: list[ShardItem] = []
        try:
            for pending, units in planned:
                for unit in units:
                    self.waiting[unit.fingerprint] = unit
                wanted = frozenset(unit.fingerprint for unit in units)
                batch.append(ShardItem(sample=pending.sample, record=pending.record, wanted=wanted))
                if len(batch) >= size:
                    await self._dispatch(batch)
                    batch = []
            if batch:
                await self._dispatch(batch)
            if self.pool is not None:
                await self.pool.drain()
        except BaseException:  # an interrupted evaluation keeps what its shards wrote
            if self.pool is not None:
                await self.pool.abandon()
            raise

    async def _dispatch(self, items: list[ShardItem]) -> None:
        if self.pool is not None:
            await self.pool.wait_for_slot(self.job.settings.num_workers)
        self._submit(_Attempt(self.shards, 0, items, self.job.shards_dir))
        self.shards += 1

    def _submit(self, attempt: _Attempt) -> None:
        if self.pool is None:
            self.pool = self._start()
        job = self.job
        context = job.context
        spec = ScoreShardSpec(
            shard=attempt.shard,
            attempt=attempt.attempt,
            items=attempt.items,
            config=job.config,
            judge=context.judge,
            workspace_dir=context.workspace_dir,
            base_dir=context.base_dir,
            cache=context.cache,
            concurrency=job.concurrency,
            plugins=job.plugins,
            part=attempt.tail.path,
        )
        self.pool.launch(attempt, self.task.remote(self.coordinator, spec))

    def _merge(self, lines: list[bytes]) -> None:
        waiting, scorer = self.waiting, self.scorer
        for line in lines:
            try:
                score = Score.model_validate_json(line)
            except ValueError:  # a line torn by a killed worker: that unit is scored again
                continue
            unit = waiting.pop(score.fingerprint or "", None)
            if unit is not None:  # else merged already (a retried shard's duplicate)
                scorer.finish(unit, score)

    def _close_part(self, attempt: _Attempt) -> None:
        self._merge(attempt.tail.read(final=True))
        attempt.tail.path.unlink(missing_ok=True)

    async def _poll(self, running: list[_Attempt]) -> None:
        for attempt in running:
            self._merge(attempt.tail.read())

    def _left(self, attempt: _Attempt) -> list[ShardItem]:
        """The attempt's items reduced to the scores still waiting."""
        waiting = self.waiting
        left = []
        for item in attempt.items:
            wanted = frozenset(fp for fp in item.wanted if fp in waiting)
            if wanted:
                left.append(item.model_copy(update={"wanted": wanted}))
        return left

    async def _finish(self, attempt: _Attempt, fut: asyncio.Future[Any]) -> None:
        ray = self.ray
        self._close_part(attempt)
        exc = fut.exception()
        if exc is None:
            outcome: ScoreShardOutcome = fut.result()
            if outcome.spend:
                absorb_spend(self.job.context, outcome.spend)
            left = self._left(attempt)
            if left:
                count = sum(len(item.wanted) for item in left)
                raise ExecutorError(
                    f"scoring shard {attempt.shard} ended without {count} of its scores "
                    "(are the pipeline's metric plugins importable in the Ray workers?)"
                )
            return
        await self.coordinator.reclaim.remote(attempt.token)
        raise_task_error(ray, exc, f"scoring shard {attempt.shard}")
        left = self._left(attempt)
        if not left:
            return
        if attempt.attempt >= self.job.settings.max_shard_retries:
            raise ExecutorError(
                f"scoring shard {attempt.shard} lost its worker {attempt.attempt + 1} times "
                f"({type(exc).__name__}); the evaluation is resumable"
            )
        if self.job.bus is not None:
            count = sum(len(item.wanted) for item in left)
            self.job.bus.emit(
                Notice(
                    "warning",
                    f"the worker scoring shard {attempt.shard} died ({type(exc).__name__}); "
                    f"sending its {count} missing scores again",
                )
            )
        self._submit(_Attempt(attempt.shard, attempt.attempt + 1, left, attempt.shards_dir))
