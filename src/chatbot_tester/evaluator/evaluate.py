"""Score a run's records, aggregate the scores into the ``EvalReport`` and yield the rows.

``evaluate_run`` streams the results, scores every (record, slot, metric) concurrently and
appends each Score to ``scores.jsonl`` as it completes, so an interrupted evaluation resumes
without paying twice for judge calls. A score is reused only when its fingerprint (metric
configuration + record identity, see ``evaluator.resume``) matches: changed metric options or
re-sent records are scored again. Stale lines are compacted away at the end.

The dataset, the results and the scores are each read once: when all scores of a record are
in (computed now or reused), the summary counts them and ``on_row`` receives the joined
``Row`` (sample, record, scores) for the reporters; samples without a record follow at the
end. Nothing per row is kept after that.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from chatbot_tester.evaluator.metrics.judge_client import judge_spend
from chatbot_tester.evaluator.records import DatasetIndex, iter_unique_records
from chatbot_tester.evaluator.report_model import Decision, EvalReport, GateOutcome
from chatbot_tester.evaluator.reports.base import Row
from chatbot_tester.evaluator.resume import ScoreLedger, record_identity, score_fingerprint
from chatbot_tester.evaluator.scoring import MetricSet, Slot, inputs_for, no_answer_reason
from chatbot_tester.evaluator.summary import SummaryBuilder

__all__ = ["Evaluation", "RowSink", "evaluate_run"]

RowSink = Callable[[Row], None]
"""Receives each joined row once (the reporters' feed)."""

DEFAULT_CONCURRENCY = 32
"""Metric calls in flight (judge metrics also obey their own judge concurrency)."""


@dataclass
class Evaluation:
    """The outcome of an evaluation: the report (gates and their decision in it), scores path."""

    report: EvalReport
    """The summary (report.json), with ``gates`` and a gates-only ``decision``."""
    gates: list[GateResult]
    """Every gate's result, in order."""
    scores_path: Path
    """Where the scores are (``scores.jsonl``)."""
    scored_now: int = 0
    """Scores computed by this call (the rest came from an earlier, resumed evaluation)."""
    skipped: int = 0
    """Scores reused from ``scores.jsonl`` on resume."""

    @property
    def passed(self) -> bool:
        """The report's decision."""
        return self.report.decision.passed

    @property
    def failed_gates(self) -> list[GateOutcome]:
        """The gates that failed (empty when every gate passed)."""
        return self.report.decision.failed_gates

    @property
    def summary(self) -> dict[str, Any]:
        """The report.json content as a dict (for readers that still take dicts)."""
        return self.report.to_json_dict()


_REPEAT = re.compile(rb'"repeat":\s*[1-9]')


def _scan(path: Path) -> tuple[int | None, bool]:
    """Lines of ``path`` (records, for progress) and whether any record may be a repeat.

    A cheap byte scan, so that scores can be folded per sample as they come; a false alarm
    changes nothing in the figures.
    """
    lines, repeats, tail = 0, False, b""
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                lines += chunk.count(b"\n")
                repeats = repeats or _REPEAT.search(tail + chunk) is not None
                tail = chunk[-16:]
    except OSError:
        return None, False
    return lines, repeats


@dataclass
class _Pending:
    """A record whose metric calls are still in flight, and its scores so far."""

    sample: TestSample
    record: RunRecord
    tags: tuple[str, ...]
    scores: list[Score | None]
    left: int = 0
    ok: bool = True


@dataclass(frozen=True)
class _Unit:
    metric: Metric
    item: MetricInput
    pending: _Pending
    fingerprint: str
    slot: int
    """Position of this score in the record's scores."""


@functools.lru_cache(maxsize=256)
def _fast(cls: type[Metric]) -> bool:
    """True when ``score`` is a plain function we may call inline (no await, no worker hop)."""
    return cls.ascore is Metric.ascore and not inspect.iscoroutinefunction(cls.score)


class _Scorer:
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
        pending.scores[unit.slot] = score
        if score.error is not None:
            pending.ok = False  # a failed verdict is a result, not an error
        pending.left -= 1
        if pending.left == 0:
            self.record_done(pending)

    def record_done(self, pending: _Pending, *, cached: bool = False) -> None:
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

    Scores on file are reused into the record's row. Records without an answer are handed to
    the metrics too (``output`` is ``None``): answer metrics return ``"no answer: <kind>"``
    errors, while metrics that look at partial conversations or timings can still score them.
    """
    pending = _Pending(sample, record, tags, [])
    units: list[_Unit] = []
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
            units.append(_Unit(metric, item, pending, fp, len(pending.scores) - 1))
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
    on_row: RowSink | None = None,
) -> Evaluation:
    """Score ``results_path`` against ``dataset_path`` into ``out_dir/scores.jsonl`` and summarise.

    With ``resume`` (the default) scores already in ``scores.jsonl`` are kept and not paid for
    again when their fingerprint matches (same metric configuration, same record); metric
    errors are retried. Gates from ``config.thresholds`` decide ``passed``. ``on_row`` gets
    every joined row once (records as their scores complete, then samples without a record).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    scores_path = out_dir / SCORES
    started = time.perf_counter()
    metric_set = MetricSet(config, context)
    status = "failed"
    ledger: ScoreLedger | None = None
    try:
        # Every sample's assertions are validated before the first (possibly paid) metric call.
        with DatasetIndex(
            dataset_path, on_sample=lambda s, line: metric_set.plan(s, file=dataset_path, line=line)
        ) as dataset:
            ledger = ScoreLedger(scores_path, resume=resume)
            summary = SummaryBuilder(metric_set.labels)
            summary.samples = len(dataset)
            lines, repeats = _scan(results_path)
            summary.by_sample = repeats
            if bus is not None:
                bus.emit(StageStarted("evaluate", lines))
            with JsonlAppender(scores_path) as appender:
                scorer = _Scorer(appender, bus, summary, dataset, on_row)
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
                    sample = dataset.get(sample_id)
                    for slot in metric_set.plan(sample):
                        for metric in slot.metrics:
                            summary.expect(metric.name, slot.turn, tags)
                    if on_row is not None:
                        on_row(Row(sample, None, [], dataset.line_of(sample_id)))
        status = "completed"
    finally:
        if ledger is not None:
            ledger.close()
        await metric_set.aclose()
        if bus is not None:
            bus.emit(StageFinished("evaluate", time.perf_counter() - started, status, {}))
    report = summary.build(run_id=run_id, pipeline=pipeline_name, title=config.report.title)
    report.judge_spend = judge_spend(context)  # apart from the bot's cost
    gates = check_gates(config.thresholds, report.to_json_dict())
    outcomes = [
        GateOutcome(expr=g.expr, passed=g.passed, actual=g.actual, message=g.message) for g in gates
    ]
    report.gates = outcomes
    report = report.with_decision(
        Decision(
            passed=all(g.passed for g in gates),
            failed_gates=[g for g in outcomes if not g.passed],
            problems=[],
        )
    )
    return Evaluation(
        report=report,
        gates=gates,
        scores_path=scores_path,
        scored_now=scorer.count,
        skipped=ledger.reused if ledger is not None else 0,
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
