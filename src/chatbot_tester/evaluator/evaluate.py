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
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot_tester.common.artifacts.jsonl import JsonlAppender
from chatbot_tester.common.artifacts.run_files import locate, restore_jsonl
from chatbot_tester.common.artifacts.workspace import SCORES
from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.common.events import EventBus, Notice, StageFinished, StageStarted
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.evaluator.gates import GateResult, check_gates
from chatbot_tester.evaluator.live import LiveScorer
from chatbot_tester.evaluator.metrics.base import MetricContext
from chatbot_tester.evaluator.metrics.judge_client import judge_spend
from chatbot_tester.evaluator.records import DatasetIndex, FedKeys
from chatbot_tester.evaluator.report_model import Decision, EvalReport, GateOutcome
from chatbot_tester.evaluator.reports.base import Row
from chatbot_tester.evaluator.resume import ScoreLedger
from chatbot_tester.evaluator.score_pass import (
    RowSink,
    Scorer,
    is_fast,
    plan_records,
    plan_units,
    score_records,
    score_sync,
)
from chatbot_tester.evaluator.scoring import MetricSet
from chatbot_tester.evaluator.summary import SummaryBuilder

__all__ = ["Evaluation", "EvaluationSession", "RowSink", "evaluate_run"]

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
    changes nothing in the figures. Parquet results (an archived run): the footer's row count
    and the ``repeat`` column.
    """
    found = locate(path)
    if found is None:
        return None, False
    if found.suffix == ".parquet":
        from chatbot_tester.common.artifacts.columnar import scan

        return scan(found)
    path, lines, repeats, tail = found, 0, False, b""
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                lines += chunk.count(b"\n")
                repeats = repeats or _REPEAT.search(tail + chunk) is not None
                tail = chunk[-16:]
    except OSError:
        return None, False
    return lines, repeats


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
        plugins: tuple[str, ...] = (),
    ) -> None:
        self.dataset_path = dataset_path
        self.validated = validated
        self.plugins = plugins
        """The pipeline's ``plugins:``; imported by Ray workers before they build the metrics."""
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
        self._fed: FedKeys | None = None
        """Keys (``id`` or ``id#repeat``) of the records scored by ``feed`` (set by ``open``)."""
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
            self._fed = FedKeys(self.dataset)
            if self.resume:  # an archived run's scores.parquet: reuse its scores
                restore_jsonl(self.scores_path, Score)
            if self.config.executor == "ray":  # a killed driver's shards: paid-for scores
                from chatbot_tester.evaluator.ray_scoring import SCORE_SHARDS_DIR, absorb_leftovers

                absorb_leftovers(
                    self.out_dir / SCORE_SHARDS_DIR, self.scores_path, resume=self.resume
                )
            self.ledger = ScoreLedger(self.scores_path, resume=self.resume)
            self._stack.callback(self.ledger.close)
            self.summary = SummaryBuilder(metric_set.labels)
            self.summary.samples = len(self.dataset)
            self.summary.by_sample = self.repeats or _scan(self.results_path)[1]
            self.appender = self._stack.enter_context(JsonlAppender(self.scores_path))
            self.scorer = Scorer(self.appender, self.bus, self.summary, self.dataset, self.on_row)
            self._live_scorer = Scorer(self.appender, None, self.summary, self.dataset, self.on_row)
            self._fast = LiveScorer(
                metric_set, self.ledger, self.summary, self.dataset, self.appender, self.on_row
            )
        except BaseException:
            self._stack.close()
            raise
        # with Ray every record is scored on the cluster, after the run
        local = self.config.executor == "local"
        self._live = local and all(is_fast(type(m)) for m in metric_set.metrics)
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
        tags = self.dataset.tags(sample.id)
        plan = self._fast.plan(sample, tags)
        if plan is not None:  # a whole-sample record: the precomputed path
            if plan.fast and self._claim(sample, record):
                self._fast.score(plan, sample, record)
            else:
                self._unfed += 1
            return
        slots = self.metric_set.plan(sample)
        if any(not is_fast(type(m)) for slot in slots for m in slot.metrics) or not self._claim(
            sample, record
        ):
            self._unfed += 1
            return
        summary = self.summary
        summary.add_record(record)
        pending, units = plan_units(
            sample, record, slots, self.metric_set, self.ledger, summary, tags
        )
        scorer = self._live_scorer
        if not units:
            scorer.record_done(pending, cached=True)
            return
        for unit in units:
            scorer.finish(unit, score_sync(unit.metric, unit.item))

    def _claim(self, sample: TestSample, record: RunRecord) -> bool:
        """Mark ``record`` as fed; False when its key was fed already (it is left to finish)."""
        assert self._fed is not None
        if not self._fed.claim(sample.id, record.repeat):
            return False  # the runner writes each key once; a repeat would be counted twice
        if record.repeat:
            self._seen.add(sample.id)  # without repeats the keys are the ids: no second set
        return True

    async def finish(self) -> Evaluation:
        """Score what was not fed, count samples without records, build the report."""
        status = "failed"
        bus, summary, dataset, on_row = self.bus, self.summary, self.dataset, self.on_row
        lines, _ = _scan(self.results_path)
        if bus is not None:
            bus.emit(StageStarted("evaluate", lines))
        self._announced = True
        self._started = time.perf_counter()  # the stage's time: what is left after the run
        fed = self._fed
        assert fed is not None, "open() first"
        try:
            if self._failure is not None:
                raise self._failure
            if self.config.executor == "ray":
                self._seen |= await self._score_on_ray()
            elif len(fed) < (lines or 0) or self._unfed:
                self._seen |= await score_records(
                    dataset,
                    self.results_path,
                    self.metric_set,
                    self.ledger,
                    summary,
                    self.scorer,
                    self.concurrency,
                    skip=fed,
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
            seen = self._seen
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

    async def _score_on_ray(self) -> set[str]:
        """Score the records in shards over a Ray cluster (``evaluator.ray_scoring``)."""
        from chatbot_tester.common.config import RayConfig
        from chatbot_tester.evaluator.ray_scoring import SCORE_SHARDS_DIR, RayScoring

        seen: set[str] = set()
        planned = plan_records(
            self.dataset,
            self.results_path,
            self.metric_set,
            self.ledger,
            self.summary,
            self.scorer,
            seen,
        )
        job = RayScoring(
            self.config,
            self.config.ray or RayConfig(),
            self.context,
            self.concurrency,
            self.out_dir / SCORE_SHARDS_DIR,
            self.bus,
            self.plugins,
        )
        await job.run(planned, self.scorer)
        return seen

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
            scored_now=self.scorer.count + self._live_scorer.count + self._fast.count,
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
