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

import contextlib
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

__all__ = ["Evaluation", "EvaluationSession", "RowSink", "evaluate_run"]

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


def _score_sync(metric: Metric, item: MetricInput) -> Score:
    """``_score_one`` for a metric whose ``score`` is a plain function (see ``_fast``)."""
    try:
        result = metric.score(item)
        if inspect.isawaitable(result):  # a sync function returning an awaitable: not fast
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError("score() returned an awaitable from a plain function")
    except Exception as exc:  # a metric bug must not lose the other scores
        no_answer = no_answer_reason(item.record, item.turn) if item.output is None else None
        return metric.make(item, error=no_answer or f"{type(exc).__name__}: {exc}")
    if not isinstance(result, Score):
        return metric.make(item, error=f"metric returned {type(result).__name__}, not a Score")
    return result


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


class EvaluationSession:
    """One evaluation, opened before the records exist so that they can be scored as they land.

    ``open`` indexes (and validates) the dataset and opens ``scores.jsonl`` and the ledger;
    ``feed(sample, record)`` scores one record at once when all of its metrics are plain
    synchronous functions (exact match, regex, ...: the pipeline calls it from the runner as
    each record is written, so the evaluation overlaps the run); ``finish`` scores every record
    of the results file that was not fed (a resumed run's earlier records, records with async
    or judge metrics), counts the samples without a record and builds the report. A fed
    record's row and scores are final: ``finish`` skips it by its (sample id, repeat) key.
    """

    def __init__(
        self,
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
        repeats: bool = False,
        validated: bool = False,
    ) -> None:
        self.dataset_path = dataset_path
        self.validated = validated
        """The dataset's samples and assertions were checked by the caller already."""
        self.results_path = results_path
        self.config = config
        self.out_dir = out_dir
        self.bus = bus
        self.resume = resume
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.concurrency = concurrency
        self.on_row = on_row
        self.repeats = repeats
        """The run has ``repeat: k`` with k > 1 (scores are folded per sample)."""
        self.context = context
        self.metric_set = MetricSet(config, context)
        self.scores_path = out_dir / SCORES
        self._started = time.perf_counter()
        self._stack = contextlib.ExitStack()
        self._fed: set[str] = set()
        """Keys (``id`` or ``id#repeat``) of the records scored by ``feed``."""
        self._seen: set[str] = set()
        self._unfed = 0
        self._failure: Exception | None = None
        self._live = False
        self._opened = False
        self._announced = False

    def open(self) -> EvaluationSession:
        """Index the dataset (validating every sample's assertions), open scores and ledger."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        metric_set, path = self.metric_set, self.dataset_path
        try:
            # Every sample's assertions are validated before the first (possibly paid) call,
            # here unless the caller did (the pipeline checks them before the run).
            index = (
                DatasetIndex(path, validate=False)
                if self.validated
                else DatasetIndex(
                    path, on_sample=lambda s, line: metric_set.plan(s, file=path, line=line)
                )
            )
            self.dataset = self._stack.enter_context(index)
            self.ledger = ScoreLedger(self.scores_path, resume=self.resume)
            self._stack.callback(self.ledger.close)
            self.summary = SummaryBuilder(metric_set.labels)
            self.summary.samples = len(self.dataset)
            self.summary.by_sample = self.repeats or _scan(self.results_path)[1]
            self.appender = self._stack.enter_context(JsonlAppender(self.scores_path))
            self.scorer = _Scorer(self.appender, self.bus, self.summary, self.dataset, self.on_row)
            self._live_scorer = _Scorer(
                self.appender, None, self.summary, self.dataset, self.on_row
            )
        except BaseException:
            self._stack.close()
            raise
        self._live = all(_fast(type(m)) for m in metric_set.metrics)
        self._opened = True
        return self

    def feed(self, sample: TestSample, record: RunRecord) -> None:
        """Score ``record`` now when every metric it needs is synchronous, else leave it.

        Never raises: a metric's fault becomes an error score, anything else (say a corrupt
        ``scores.jsonl`` line) is raised by ``finish``.
        """
        if self._failure is not None:
            return
        try:
            self._feed(sample, record)
        except Exception as exc:
            self._failure = exc

    def _feed(self, sample: TestSample, record: RunRecord) -> None:
        if not self._live or sample.id not in self.dataset:
            self._unfed += 1
            return
        slots = self.metric_set.plan(sample)
        if any(not _fast(type(m)) for slot in slots for m in slot.metrics):
            self._unfed += 1
            return
        key = sample.id if record.repeat == 0 else f"{sample.id}#{record.repeat}"
        if key in self._fed:  # the runner writes each key once; a repeat would be counted twice
            self._unfed += 1
            return
        self._fed.add(key)
        if record.repeat:
            self._seen.add(sample.id)  # without repeats the keys are the ids: no second set
        summary = self.summary
        summary.add_record(record)
        tags = self.dataset.tags(sample.id)
        pending, units = _units(sample, record, slots, self.metric_set, self.ledger, summary, tags)
        scorer = self._live_scorer
        if not units:
            scorer.record_done(pending, cached=True)
            return
        for unit in units:
            scorer.finish(unit, _score_sync(unit.metric, unit.item))

    async def finish(self) -> Evaluation:
        """Score what was not fed, count samples without records, build the report."""
        status = "failed"
        bus, summary, dataset, on_row = self.bus, self.summary, self.dataset, self.on_row
        lines, _ = _scan(self.results_path)
        if bus is not None:
            bus.emit(StageStarted("evaluate", lines))
        self._announced = True
        self._started = time.perf_counter()  # the stage's time: what is left after the run
        try:
            if self._failure is not None:
                raise self._failure
            if len(self._fed) < (lines or 0) or self._unfed:
                self._seen |= await _score_records(
                    dataset,
                    self.results_path,
                    self.metric_set,
                    self.ledger,
                    summary,
                    self.scorer,
                    self.concurrency,
                    skip=self._fed,
                )
            self.appender.close()
            self.ledger.compact()
            scorer = self.scorer
            scorer.orphans += self._live_scorer.orphans
            if scorer.orphans and bus is not None:
                bus.emit(
                    Notice(
                        "warning",
                        f"{scorer.orphans} records belong to samples that are not in "
                        f"{self.dataset_path.name}; not scored",
                    )
                )
            seen, fed = self._seen, self._fed
            for sample_id in dataset.ids():
                if sample_id not in seen and sample_id not in fed:
                    summary.missing += 1
                    tags = dataset.tags(sample_id)
                    sample = dataset.get(sample_id)
                    for slot in self.metric_set.plan(sample):
                        for metric in slot.metrics:
                            summary.expect(metric.name, slot.turn, tags)
                    if on_row is not None:
                        on_row(Row(sample, None, [], dataset.line_of(sample_id)))
            status = "completed"
        finally:
            await self.aclose(status)
        return self._evaluation()

    async def aclose(self, status: str = "failed") -> None:
        """Close the files and the metrics (idempotent); ``finish`` calls it."""
        if not self._opened:
            return
        self._opened = False
        try:
            self._stack.close()
            await self.metric_set.aclose()
        finally:
            # a session closed before finish() (the run was interrupted) never started the
            # evaluate stage for the subscribers
            if self.bus is not None and self._announced:
                elapsed = time.perf_counter() - self._started
                self.bus.emit(StageFinished("evaluate", elapsed, status, {}))

    def _evaluation(self) -> Evaluation:
        config = self.config
        report = self.summary.build(
            run_id=self.run_id, pipeline=self.pipeline_name, title=config.report.title
        )
        report.judge_spend = judge_spend(self.context)  # apart from the bot's cost
        gates = check_gates(config.thresholds, report.to_json_dict())
        outcomes = [
            GateOutcome(expr=g.expr, passed=g.passed, actual=g.actual, message=g.message)
            for g in gates
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
            scores_path=self.scores_path,
            scored_now=self.scorer.count + self._live_scorer.count,
            skipped=self.ledger.reused,
        )


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
    session = EvaluationSession(
        dataset_path,
        results_path,
        config,
        out_dir,
        context=context,
        bus=bus,
        resume=resume,
        pipeline_name=pipeline_name,
        run_id=run_id,
        concurrency=concurrency,
        on_row=on_row,
    )
    try:
        session.open()
    except BaseException:
        await session.metric_set.aclose()
        raise
    try:
        return await session.finish()
    finally:
        await session.aclose()


async def _score_records(
    dataset: DatasetIndex,
    results_path: Path,
    metric_set: MetricSet,
    ledger: ScoreLedger,
    summary: SummaryBuilder,
    scorer: _Scorer,
    concurrency: int,
    *,
    skip: set[str] | frozenset[str] = frozenset(),
) -> set[str]:
    """Stream the records through the metrics; returns the sample ids that have records.

    Records whose key (``id``, or ``id#repeat``) is in ``skip`` were scored already.
    """
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
                if skip:
                    key = (
                        record.sample_id
                        if record.repeat == 0
                        else f"{record.sample_id}#{record.repeat}"
                    )
                    if key in skip:
                        continue
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
