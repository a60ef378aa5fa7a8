"""The scoring pass: records through the metrics, concurrently, each score appended as it lands.

``score_records`` streams a results file: every (record, slot, metric) becomes a ``Unit``;
synchronous metrics run inline, the others on ``concurrency`` workers; ``Scorer`` appends each
Score, reuses ledger hits, and hands a record's joined ``Row`` to the sink once all of its
scores are in. ``EvaluationSession`` (``evaluator.evaluate``) drives it, and also feeds records
one by one while the run writes them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream

from chatbot_tester.common.artifacts.jsonl import JsonlAppender
from chatbot_tester.common.events import EventBus, ItemFinished
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.evaluator.metrics.base import Metric, MetricInput
from chatbot_tester.evaluator.records import DatasetIndex, iter_unique_records
from chatbot_tester.evaluator.reports.base import Row
from chatbot_tester.evaluator.resume import ScoreLedger, record_identity, score_fingerprint
from chatbot_tester.evaluator.scoring import MetricSet, Slot, inputs_for, no_answer_reason
from chatbot_tester.evaluator.summary import SummaryBuilder

__all__ = [
    "Pending",
    "RowSink",
    "Scorer",
    "Unit",
    "final_score",
    "is_fast",
    "plan_records",
    "plan_units",
    "score_one",
    "score_records",
    "score_sync",
]

RowSink = Callable[[Row], None]
"""Receives each joined row once (the reporters' feed)."""


@dataclass
class Pending:
    """A record whose metric calls are still in flight, and its scores so far."""

    sample: TestSample
    record: RunRecord
    tags: tuple[str, ...]
    scores: list[Score | None]
    left: int = 0
    ok: bool = True


@dataclass(frozen=True)
class Unit:
    """One metric to run on one input of a record (a slot: the whole sample or a turn)."""

    metric: Metric
    item: MetricInput
    pending: Pending
    fingerprint: str
    slot: int
    """Position of this score in the record's scores."""


@functools.lru_cache(maxsize=256)
def is_fast(cls: type[Metric]) -> bool:
    """True when ``score`` is a plain function we may call inline (no await, no worker hop)."""
    return cls.ascore is Metric.ascore and not inspect.iscoroutinefunction(cls.score)


class Scorer:
    """Runs the units of every record, appends scores, emits one ItemFinished per record."""

    def __init__(
        self,
        appender: JsonlAppender,
        bus: EventBus | None,
        summary: SummaryBuilder,
        dataset: DatasetIndex,
        on_row: RowSink | None,
    ) -> None:
        self.appender = appender
        self.bus = bus
        self.summary = summary
        self.dataset = dataset
        self.on_row = on_row
        self.count = 0
        self.orphans = 0

    def finish(self, unit: Unit, score: Score) -> None:
        """Record ``score`` of ``unit``; the record's row goes out once all of its are in."""
        score = final_score(unit.metric.name, unit.item, unit.fingerprint, score)
        self.appender.write(score)
        self.count += 1
        pending = unit.pending
        pending.scores[unit.slot] = score
        if score.error is not None:
            pending.ok = False  # a failed verdict is a result, not an error
        pending.left -= 1
        if pending.left == 0:
            self.record_done(pending)

    def record_done(self, pending: Pending, *, cached: bool = False) -> None:
        """All scores of a record are in: count them, pass the row on, report progress."""
        scores = [s for s in pending.scores if s is not None]
        for score in scores:
            self.summary.add_score(score, pending.tags)
        if self.on_row is not None:
            record = pending.record
            self.on_row(Row(pending.sample, record, scores, self.dataset.line_of(record.sample_id)))
        if self.bus is None:
            return
        record = pending.record
        item_id = record.sample_id if record.repeat == 0 else f"{record.sample_id}#{record.repeat}"
        self.bus.emit(
            ItemFinished(
                stage="evaluate",
                item_id=item_id,
                ok=pending.ok and record.ok,
                cached=cached,
                error_kind=(
                    record.error.kind.value
                    if record.error
                    else (None if pending.ok else "metric_error")
                ),
                latency_ms=record.latency_ms,
            )
        )

    async def run(self, unit: Unit) -> None:
        """Score one unit and record the result (never raises for a metric's fault)."""
        self.finish(unit, await score_one(unit.metric, unit.item))

    async def worker(self, receive: MemoryObjectReceiveStream[Unit]) -> None:
        """Score the units that arrive on ``receive`` until it is closed."""
        async with receive:
            async for unit in receive:
                await self.run(unit)


def final_score(label: str, item: MetricInput, fingerprint: str, score: Score) -> Score:
    """``score`` as it is stored: named after the metric's label and the scored record, fingerprinted."""
    if (
        score.metric != label
        or score.sample_id != item.record.sample_id
        or score.repeat != item.record.repeat
        or score.turn != item.turn
    ):
        score = score.model_copy(
            update={
                "metric": label,
                "sample_id": item.record.sample_id,
                "repeat": item.record.repeat,
                "turn": item.turn,
            }
        )
    score.fingerprint = fingerprint
    return score


def score_sync(metric: Metric, item: MetricInput) -> Score:
    """``score_one`` for a metric whose ``score`` is a plain function (see ``is_fast``)."""
    try:
        result = metric.score(item)
        if type(result) is Score:  # the common case: no awaitable check needed
            return result
        if inspect.isawaitable(result):  # a sync function returning an awaitable: not fast
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError("score() returned an awaitable from a plain function")
    except Exception as exc:  # a metric bug must not lose the other scores
        return _settle(metric, item, None, exc)
    return _settle(metric, item, result)


async def score_one(metric: Metric, item: MetricInput) -> Score:
    """``metric`` on ``item``; a crash becomes an error Score ("no answer: <kind>" without answer)."""
    if type(metric).ascore is not Metric.ascore:
        return await metric.ascore(item)
    try:
        result = metric.score(item)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # a metric bug must not lose the other scores
        return _settle(metric, item, None, exc)
    return _settle(metric, item, result)


def _settle(
    metric: Metric, item: MetricInput, result: object, error: Exception | None = None
) -> Score:
    """What one call of ``metric`` comes to: ``result`` when it is a Score, else an error Score.

    A crash (``error``) reads ``"no answer: <kind>"`` when the record has no answer, else the
    exception; a result of another type says so.
    """
    if error is not None:
        no_answer = no_answer_reason(item.record, item.turn) if item.output is None else None
        return metric.make(item, error=no_answer or f"{type(error).__name__}: {error}")
    if not isinstance(result, Score):
        return metric.make(item, error=f"metric returned {type(result).__name__}, not a Score")
    return result


def plan_units(
    sample: TestSample,
    record: RunRecord,
    slots: list[Slot],
    metric_set: MetricSet,
    ledger: ScoreLedger,
    summary: SummaryBuilder,
    tags: tuple[str, ...],
) -> tuple[Pending, list[Unit]]:
    """The (metric, input) pairs of one record without a valid score on file.

    Scores on file are reused into the record's row. Records without an answer are handed to
    the metrics too (``output`` is ``None``): answer metrics return ``"no answer: <kind>"``
    errors, while metrics that look at partial conversations or timings can still score them.
    """
    pending = Pending(sample, record, tags, [])
    units: list[Unit] = []
    identity = record_identity(record)
    for slot in slots:
        item: MetricInput | None = None
        for metric in slot.metrics:
            summary.expect(metric.name, slot.turn, tags)
            fp = score_fingerprint(metric_set.fingerprint(metric), identity, slot.turn)
            pending.scores.append(ledger.reuse(fp))
            if pending.scores[-1] is not None:
                continue
            if item is None:
                item = inputs_for(sample, record, slot.turn)
            units.append(Unit(metric, item, pending, fp, len(pending.scores) - 1))
    pending.left = len(units)
    return pending, units


def plan_records(
    dataset: DatasetIndex,
    results_path: Path,
    metric_set: MetricSet,
    ledger: ScoreLedger,
    summary: SummaryBuilder,
    scorer: Scorer,
    seen: set[str],
    skip: Container[str] = frozenset(),
) -> Iterator[tuple[Pending, list[Unit]]]:
    """The records of ``results_path`` that need scores, with their units to run.

    Records fully scored on file are passed on at once (``record_done``); records of unknown
    samples are counted as orphans, those whose key (``id``, or ``id#repeat``) is in ``skip``
    were scored already. ``seen`` collects the sample ids that have records.
    """
    for record in iter_unique_records(results_path):
        if record.sample_id not in dataset:
            scorer.orphans += 1
            continue
        seen.add(record.sample_id)
        if skip:
            key = record.sample_id if record.repeat == 0 else f"{record.sample_id}#{record.repeat}"
            if key in skip:
                continue
        summary.add_record(record)
        sample = dataset.get(record.sample_id)
        slots = metric_set.plan(sample)
        pending, units = plan_units(
            sample, record, slots, metric_set, ledger, summary, dataset.tags(record.sample_id)
        )
        if not units:
            scorer.record_done(pending, cached=True)
            continue
        yield pending, units


async def score_records(
    dataset: DatasetIndex,
    results_path: Path,
    metric_set: MetricSet,
    ledger: ScoreLedger,
    summary: SummaryBuilder,
    scorer: Scorer,
    concurrency: int,
    *,
    skip: Container[str] = frozenset(),
) -> set[str]:
    """Stream the records through the metrics; returns the sample ids that have records.

    Records whose key (``id``, or ``id#repeat``) is in ``skip`` were scored already.
    """
    seen: set[str] = set()
    send, receive = anyio.create_memory_object_stream[Unit](max_buffer_size=concurrency)
    async with anyio.create_task_group() as tg:
        for _ in range(max(1, concurrency)):
            tg.start_soon(scorer.worker, receive.clone())
        receive.close()
        async with send:
            planned = plan_records(
                dataset, results_path, metric_set, ledger, summary, scorer, seen, skip
            )
            for n, (_, units) in enumerate(planned):
                if n % 64 == 63:
                    await anyio.lowlevel.checkpoint()  # let workers and subscribers run
                for unit in units:
                    if is_fast(type(unit.metric)):
                        await scorer.run(unit)  # sync metric: no hop through a worker
                    else:
                        await send.send(unit)
    return seen
