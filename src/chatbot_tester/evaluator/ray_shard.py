"""One scoring shard, as a Ray worker process runs it: the metrics built here, judge limits shared.

A shard attempt gets records (each with its sample and the fingerprints of the scores it
still lacks), builds the metrics from the (trusted) evaluator config as the driver did, so
the plan and every fingerprint are the driver's, and scores those units: plain synchronous
metrics inline, the others on ``concurrency`` tasks. Each score is appended to the attempt's
own part file (``score-shards/part-<shard>-<attempt>.jsonl`` beside ``scores.jsonl``) as it
lands, so the driver keeps what a worker wrote before it died. Judge clients take their
concurrency slots and rate-limit start times from the evaluation's ``JudgeCoordinator``
actor, through the proxies of ``common.calls.remote_limits``.

Nothing here imports Ray: the coordinator is a Ray actor handle (``handle.method.remote``
returns an awaitable reference).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream
from pydantic import BaseModel, ConfigDict

from chatbot_tester.common.artifacts.jsonl import JsonlAppender
from chatbot_tester.common.calls.limits import rate_limit_identity
from chatbot_tester.common.calls.policy import CallLimits
from chatbot_tester.common.calls.remote_limits import LeasedConcurrency, RemoteRate
from chatbot_tester.common.config import EvaluatorConfig, JudgeConfig
from chatbot_tester.common.hashing import stable_hash
from chatbot_tester.common.plugins import import_plugins
from chatbot_tester.common.schemas import RunRecord, TestSample
from chatbot_tester.evaluator.metrics.base import Metric, MetricContext, MetricInput
from chatbot_tester.evaluator.metrics.judge_client import JUDGE_LIMITS_KEY, spend_counters
from chatbot_tester.evaluator.resume import record_identity, score_fingerprint
from chatbot_tester.evaluator.score_pass import final_score, is_fast, score_one, score_sync
from chatbot_tester.evaluator.scoring import MetricSet, inputs_for

__all__ = ["ScoreShardOutcome", "ScoreShardSpec", "ShardItem", "score_shard", "score_shard_sync"]


class ShardItem(BaseModel):
    """One record to score and the scores it lacks."""

    model_config = ConfigDict(extra="forbid")

    sample: TestSample
    record: RunRecord
    wanted: frozenset[str]
    """Fingerprints of the scores to compute (the others are on file or merged already)."""


class ScoreShardSpec(BaseModel):
    """What one scoring shard attempt runs."""

    model_config = ConfigDict(extra="forbid")

    shard: int
    """Shard number within this evaluation."""
    attempt: int
    """0 for the first try; a retry after a worker died counts up."""
    items: list[ShardItem]
    config: EvaluatorConfig
    """The evaluator configuration (``${ENV}`` references resolved in the worker)."""
    judge: JudgeConfig | None
    workspace_dir: Path | None
    base_dir: Path
    cache: bool
    concurrency: int
    """Metric calls in flight in this worker (judges also obey their shared limits)."""
    plugins: tuple[str, ...] = ()
    """The pipeline's ``plugins:``, imported before the metrics are built."""
    part: Path
    """The part file this attempt writes."""

    @property
    def token(self) -> str:
        """The coordinator's name for this attempt."""
        return f"{self.shard}-{self.attempt}"


class ScoreShardOutcome(BaseModel):
    """How a shard attempt ended (its scores are in its part file)."""

    model_config = ConfigDict(extra="forbid")

    written: int = 0
    unplanned: int = 0
    """Wanted fingerprints the worker's own plan did not produce (a driver/worker mismatch)."""
    spend: dict[str, float | int | bool] | None = None
    """The judge spend of this attempt (``JudgeSpend.counters``)."""


class _Bound:
    """A coordinator method with its leading arguments bound (``.remote(*rest)``)."""

    def __init__(self, method: Any, *head: Any) -> None:
        self._method = method
        self._head = head

    def remote(self, *args: Any) -> Any:
        return self._method.remote(*self._head, *args)


class _Unbound:
    """A no-op method (judge concurrency is not adaptive)."""

    def remote(self, *args: Any) -> None:
        return None


class _JudgeHandle:
    """The coordinator as one judge's limits see it (``common.calls.remote_limits``)."""

    def __init__(self, coordinator: Any, key: str, config: JudgeConfig, rate_key: str) -> None:
        rate = config.rate_limit
        self.lease = _Bound(coordinator.lease, key, config.concurrency)
        self.release = _Bound(coordinator.release, key)
        self.reserve = _Bound(
            coordinator.reserve, rate_key, rate.requests_per_minute, rate.tokens_per_minute
        )
        self.record_usage = _Bound(coordinator.record_usage, rate_key)
        self.on_rate_limited = self.on_success = _Unbound()


class _SharedJudgeLimits:
    """``JudgeLimits`` drawing on the coordinator; closes (hands back) every lease at the end."""

    def __init__(self, coordinator: Any, token: str) -> None:
        self._coordinator = coordinator
        self._token = token
        self._leases: list[LeasedConcurrency] = []

    def __call__(self, key: str, config: JudgeConfig, identity: dict[str, Any]) -> CallLimits:
        handle = _JudgeHandle(
            self._coordinator, key, config, stable_hash(rate_limit_identity(identity))
        )
        concurrency = LeasedConcurrency(handle, self._token, config.concurrency, adaptive=False)
        self._leases.append(concurrency)
        rate = config.rate_limit
        limited = rate.requests_per_minute is not None or rate.tokens_per_minute is not None
        return CallLimits(concurrency, RemoteRate(handle) if limited else None)

    async def aclose(self) -> None:
        for lease in self._leases:
            await lease.aclose()


def _units(
    metric_set: MetricSet, items: list[ShardItem]
) -> tuple[list[tuple[Metric, MetricInput, str]], int]:
    """The (metric, input, fingerprint) triples wanted, and how many wanted were not found."""
    units: list[tuple[Metric, MetricInput, str]] = []
    wanted = 0
    for entry in items:
        wanted += len(entry.wanted)
        identity = record_identity(entry.record)
        for slot in metric_set.plan(entry.sample):
            item: MetricInput | None = None
            for metric in slot.metrics:
                fp = score_fingerprint(metric_set.fingerprint(metric), identity, slot.turn)
                if fp not in entry.wanted:
                    continue
                if item is None:
                    item = inputs_for(entry.sample, entry.record, slot.turn)
                units.append((metric, item, fp))
    return units, wanted - len(units)


async def _score(
    units: list[tuple[Metric, MetricInput, str]], appender: JsonlAppender, concurrency: int
) -> None:
    async def work(receive: MemoryObjectReceiveStream[tuple[Metric, MetricInput, str]]) -> None:
        async with receive:
            async for metric, item, fp in receive:
                score = await score_one(metric, item)
                appender.write(final_score(metric.name, item, fp, score))

    send, receive = anyio.create_memory_object_stream[tuple[Metric, MetricInput, str]](
        max_buffer_size=concurrency
    )
    async with anyio.create_task_group() as tg:
        for _ in range(max(1, concurrency)):
            tg.start_soon(work, receive.clone())
        receive.close()
        async with send:
            for metric, item, fp in units:
                if is_fast(type(metric)):
                    score = score_sync(metric, item)
                    appender.write(final_score(metric.name, item, fp, score))
                    await anyio.lowlevel.checkpoint()
                else:
                    await send.send((metric, item, fp))


async def score_shard(coordinator: Any, spec: ScoreShardSpec) -> ScoreShardOutcome:
    """Score one shard attempt with the evaluation's shared judge limits into ``spec.part``."""
    token = spec.token
    await coordinator.started.remote(token, os.getpid())
    limits = _SharedJudgeLimits(coordinator, token)
    context = MetricContext(
        judge=spec.judge,
        workspace_dir=spec.workspace_dir,
        base_dir=spec.base_dir,
        cache=spec.cache,
        extras={JUDGE_LIMITS_KEY: limits},
    )
    try:
        if spec.plugins:
            import_plugins(spec.plugins, spec.base_dir)
        metric_set = MetricSet(spec.config, context)
        try:
            units, unplanned = _units(metric_set, spec.items)
            with JsonlAppender(spec.part) as appender:
                await _score(units, appender, spec.concurrency)
                written = appender.count
        finally:
            await metric_set.aclose()
    finally:
        with contextlib.suppress(Exception):
            await limits.aclose()
        await coordinator.finished.remote(token)
    return ScoreShardOutcome(written=written, unplanned=unplanned, spend=spend_counters(context))


def score_shard_sync(coordinator: Any, spec: ScoreShardSpec) -> ScoreShardOutcome:
    """The Ray task's body: one event loop for the attempt (created here, nowhere else)."""
    return asyncio.run(score_shard(coordinator, spec))
