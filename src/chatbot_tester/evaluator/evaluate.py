"""Score a run's records and aggregate the scores into the report.json summary.

``evaluate_run`` streams the results, scores every (record, slot, metric) concurrently and
appends each Score to ``scores.jsonl`` as it completes, so an interrupted evaluation resumes
without paying twice for judge calls. A score is reused only when its fingerprint (metric
configuration + record identity, see ``evaluator.resume``) matches: changed metric options or
re-sent records are scored again. Stale lines are compacted away at the end, and aggregation
re-reads the scores file, so the summary is the same whether the scores came from this call
or an earlier one.
"""

from __future__ import annotations

import functools
import inspect
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream

from chatbot_tester.common.artifacts.jsonl import JsonlAppender
from chatbot_tester.common.artifacts.workspace import SCORES
from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.common.events import EventBus, ItemFinished, Notice, StageFinished, StageStarted
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.evaluator.gates import GateResult, check_gates
from chatbot_tester.evaluator.metrics.base import Metric, MetricContext, MetricInput
from chatbot_tester.evaluator.records import DatasetIndex, iter_unique_records, iter_unique_scores
from chatbot_tester.evaluator.reports import write_reports
from chatbot_tester.evaluator.resume import ScoreLedger, record_identity, score_fingerprint
from chatbot_tester.evaluator.scoring import MetricSet, Slot, inputs_for, no_answer_reason
from chatbot_tester.evaluator.summary import SummaryBuilder

__all__ = ["Evaluation", "evaluate_run", "write_reports"]

DEFAULT_CONCURRENCY = 32
"""Metric calls in flight (judge metrics also obey their own judge concurrency)."""


@dataclass
class Evaluation:
    """The outcome of an evaluation: the report.json dict, gate results and where scores are."""

    summary: dict[str, Any]
    gates: list[GateResult]
    passed: bool
    scores_path: Path
    scored_now: int = 0
    """Scores computed by this call (the rest came from an earlier, resumed evaluation)."""
    skipped: int = 0
    """Scores reused from ``scores.jsonl`` on resume."""
    failed_gates: list[GateResult] = field(default_factory=list)
    """The gates that failed (empty when ``passed``)."""


def _count_lines(path: Path) -> int | None:
    """Lines of ``path`` (the number of records, give or take duplicates), for progress."""
    try:
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return None


@dataclass
class _Pending:
    """A record whose metric calls are still in flight."""

    record: RunRecord
    left: int
    ok: bool = True


@dataclass(frozen=True)
class _Unit:
    metric: Metric
    item: MetricInput
    pending: _Pending
    fingerprint: str


@functools.lru_cache(maxsize=256)
def _fast(cls: type[Metric]) -> bool:
    """True when ``score`` is a plain function we may call inline (no await, no worker hop)."""
    return cls.ascore is Metric.ascore and not inspect.iscoroutinefunction(cls.score)


class _Scorer:
    """Runs the units of every record, appends scores, emits one ItemFinished per record."""

    def __init__(self, appender: JsonlAppender, bus: EventBus | None) -> None:
        self.appender = appender
        self.bus = bus
        self.count = 0
        self.orphans = 0

    def finish(self, unit: _Unit, score: Score) -> None:
        item = unit.item
        label = unit.metric.name
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
        score.fingerprint = unit.fingerprint
        self.appender.write(score)
        self.count += 1
        pending = unit.pending
        if score.error is not None:
            pending.ok = False  # a failed verdict is a result, not an error
        pending.left -= 1
        if pending.left == 0:
            self.record_done(pending)

    def record_done(self, pending: _Pending, *, cached: bool = False) -> None:
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

    async def run(self, unit: _Unit) -> None:
        """Score one unit and record the result (never raises for a metric's fault)."""
        self.finish(unit, await _score_one(unit.metric, unit.item))

    async def worker(self, receive: MemoryObjectReceiveStream[_Unit]) -> None:
        async with receive:
            async for unit in receive:
                await self.run(unit)


async def _score_one(metric: Metric, item: MetricInput) -> Score:
    """``metric`` on ``item``; a crash becomes an error Score ("no answer: <kind>" without answer)."""
    if type(metric).ascore is not Metric.ascore:
        return await metric.ascore(item)
    try:
        result = metric.score(item)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # a metric bug must not lose the other scores
        no_answer = no_answer_reason(item.record, item.turn) if item.output is None else None
        return metric.make(item, error=no_answer or f"{type(exc).__name__}: {exc}")
    if not isinstance(result, Score):
        return metric.make(item, error=f"metric returned {type(result).__name__}, not a Score")
    return result


def _units(
    sample: TestSample,
    record: RunRecord,
    slots: list[Slot],
    metric_set: MetricSet,
    ledger: ScoreLedger,
    summary: SummaryBuilder,
    tags: tuple[str, ...],
) -> tuple[_Pending, list[_Unit]]:
    """The (metric, input) pairs of one record without a valid score on file.

    Records without an answer are handed to the metrics too (``output`` is ``None``): answer
    metrics return ``"no answer: <kind>"`` errors, while metrics that look at partial
    conversations or timings can still score them.
    """
    pending = _Pending(record, 0)
    units: list[_Unit] = []
    identity = record_identity(record)
    for slot in slots:
        item: MetricInput | None = None
        for metric in slot.metrics:
            summary.expect(metric.name, slot.turn, tags)
            fp = score_fingerprint(metric_set.fingerprint(metric), identity, slot.turn)
            if ledger.reuse(fp):
                continue
            if item is None:
                item = inputs_for(sample, record, slot.turn)
            units.append(_Unit(metric, item, pending, fp))
    pending.left = len(units)
    return pending, units


async def evaluate_run(
    dataset_path: Path,
    results_path: Path,
    config: EvaluatorConfig,
    out_dir: Path,
    *,
    context: MetricContext,
    bus: EventBus | None = None,
    resume: bool = True,
    pipeline_name: str = "",
    run_id: str = "",
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Evaluation:
    """Score ``results_path`` against ``dataset_path`` into ``out_dir/scores.jsonl`` and summarise.

    With ``resume`` (the default) scores already in ``scores.jsonl`` are kept and not paid for
    again when their fingerprint matches (same metric configuration, same record); metric
    errors are retried. Gates from ``config.thresholds`` decide ``passed``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    scores_path = out_dir / SCORES
    started = time.perf_counter()
    metric_set = MetricSet(config, context)
    status = "failed"
    try:
        # Every sample's assertions are validated before the first (possibly paid) metric call.
        with DatasetIndex(
            dataset_path, on_sample=lambda s, line: metric_set.plan(s, file=dataset_path, line=line)
        ) as dataset:
            ledger = ScoreLedger(scores_path, resume=resume)
            summary = SummaryBuilder(metric_set.labels)
            summary.samples = len(dataset)
            if bus is not None:
                bus.emit(StageStarted("evaluate", _count_lines(results_path)))
            with JsonlAppender(scores_path) as appender:
                scorer = _Scorer(appender, bus)
                seen = await _score_records(
                    dataset, results_path, metric_set, ledger, summary, scorer, concurrency
                )
            ledger.compact()
            if scorer.orphans and bus is not None:
                bus.emit(
                    Notice(
                        "warning",
                        f"{scorer.orphans} records belong to samples that are not in {dataset_path.name}; not scored",
                    )
                )
            for sample_id in dataset.ids():
                if sample_id not in seen:
                    summary.missing += 1
                    tags = dataset.tags(sample_id)
                    for slot in metric_set.plan(dataset.get(sample_id)):
                        for metric in slot.metrics:
                            summary.expect(metric.name, slot.turn, tags)
            labels = set(metric_set.labels) | metric_set.assertion_labels
            for score in iter_unique_scores(scores_path):
                if score.metric in labels and score.sample_id in dataset:
                    summary.add_score(score, dataset.tags(score.sample_id))
        status = "completed"
    finally:
        await metric_set.aclose()
        if bus is not None:
            bus.emit(StageFinished("evaluate", time.perf_counter() - started, status, {}))
    report = summary.build(run_id=run_id, pipeline=pipeline_name, title=config.report.title)
    gates = check_gates(config.thresholds, report)
    report["gates"] = [asdict(g) for g in gates]
    failed = [g for g in gates if not g.passed]
    report["passed"] = not failed
    return Evaluation(
        summary=report,
        gates=gates,
        passed=not failed,
        scores_path=scores_path,
        scored_now=scorer.count,
        skipped=ledger.reused,
        failed_gates=failed,
    )


async def _score_records(
    dataset: DatasetIndex,
    results_path: Path,
    metric_set: MetricSet,
    ledger: ScoreLedger,
    summary: SummaryBuilder,
    scorer: _Scorer,
    concurrency: int,
) -> set[str]:
    """Stream the records through the metrics; returns the sample ids that have records."""
    seen: set[str] = set()
    send, receive = anyio.create_memory_object_stream[_Unit](max_buffer_size=concurrency)
    async with anyio.create_task_group() as tg:
        for _ in range(max(1, concurrency)):
            tg.start_soon(scorer.worker, receive.clone())
        receive.close()
        async with send:
            for n, record in enumerate(iter_unique_records(results_path)):
                if n % 64 == 63:
                    await anyio.lowlevel.checkpoint()  # let workers and subscribers run
                if record.sample_id not in dataset:
                    scorer.orphans += 1
                    continue
                seen.add(record.sample_id)
                summary.add_record(record)
                sample = dataset.get(record.sample_id)
                slots = metric_set.plan(sample)
                pending, units = _units(
                    sample,
                    record,
                    slots,
                    metric_set,
                    ledger,
                    summary,
                    dataset.tags(record.sample_id),
                )
                if not units:
                    scorer.record_done(pending, cached=True)
                    continue
                for unit in units:
                    if _fast(type(unit.metric)):
                        await scorer.run(unit)  # sync metric: no hop through a worker
                    else:
                        await send.send(unit)
    return seen
