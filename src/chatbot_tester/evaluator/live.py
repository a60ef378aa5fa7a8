"""Scoring a record the moment the runner writes it: the session's fast path.

A sample without turns or assertions is scored by the pipeline's metrics alone, chosen by its
tags (``only_tags``). Everything that does not depend on the record is therefore worked out
once per distinct tag set and kept in a ``Plan``: the metrics, their configuration hashes
(pre-hashed as the head of each score fingerprint) and the summary accumulators each score
lands in. What is left per record is the metric calls, one digest per score, one
``os.write`` for all of the record's score lines, and the counters. Samples with turns or
assertions take the general path (``score_pass.plan_units``); both write the same bytes and
count the same figures (``tests/evaluator/test_live_scoring.py`` holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot_tester.common.artifacts.jsonl import JsonlAppender
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.evaluator.metrics.base import Metric, MetricInput
from chatbot_tester.evaluator.records import DatasetIndex
from chatbot_tester.evaluator.reports.base import Row
from chatbot_tester.evaluator.resume import (
    FingerprintHead,
    ScoreLedger,
    record_identity,
    score_tail,
)
from chatbot_tester.evaluator.score_pass import RowSink, is_fast, score_sync
from chatbot_tester.evaluator.scoring import MetricSet, inputs_for
from chatbot_tester.evaluator.summary import Accumulator, SummaryBuilder, add_to

__all__ = ["LiveScorer", "Plan"]

MAX_PLANS = 4096
"""Distinct tag sets whose plans are kept; beyond that a plan is built per record (still right)."""

_to_json = Score.__pydantic_serializer__.to_json


@dataclass(frozen=True, slots=True)
class Plan:
    """What scoring a whole-sample record with given tags needs, computed once."""

    metrics: tuple[Metric, ...]
    """The metrics that apply, in config order."""
    heads: tuple[FingerprintHead, ...]
    """Per metric, its configuration hash as the head of its scores' fingerprints."""
    targets: tuple[tuple[Accumulator, ...], ...]
    """Per metric, the summary accumulators of its scores (the metric's, then per tag)."""
    fast: bool
    """Every metric is a plain synchronous function (else the record waits for ``finish``)."""


class LiveScorer:
    """Scores whole-sample records with plain metrics; ``plan`` says whether a sample qualifies."""

    def __init__(
        self,
        metric_set: MetricSet,
        ledger: ScoreLedger,
        summary: SummaryBuilder,
        dataset: DatasetIndex,
        appender: JsonlAppender,
        on_row: RowSink | None,
    ) -> None:
        self.metric_set = metric_set
        self.ledger = ledger
        self.summary = summary
        self.dataset = dataset
        self.appender = appender
        self.on_row = on_row
        self.count = 0
        """Scores computed (and written) here."""
        self._plans: dict[tuple[tuple[str, ...], tuple[str, ...]], Plan] = {}

    def plan(self, sample: TestSample, tags: tuple[str, ...]) -> Plan | None:
        """The plan of ``sample`` (``tags``: its tags in the dataset index), if it has one.

        ``None`` when the sample has turns or assertions (the general path).
        """
        if sample.turns is not None or sample.assertions:
            return None
        key = (tuple(sample.tags), tags)
        plan = self._plans.get(key)
        if plan is None:
            metric_set, summary = self.metric_set, self.summary
            metrics, _ = metric_set.for_tags(sample.tags)
            plan = Plan(
                metrics=metrics,
                heads=tuple(FingerprintHead(metric_set.fingerprint(m)) for m in metrics),
                targets=tuple(summary.targets(m.name, None, tags) for m in metrics),
                fast=all(is_fast(type(m)) for m in metrics),
            )
            if len(self._plans) < MAX_PLANS:
                self._plans[key] = plan
        return plan

    def score(self, plan: Plan, sample: TestSample, record: RunRecord) -> None:
        """Score ``record`` by ``plan``: scores written, summary counted, row handed on.

        What ``plan_units`` + ``Scorer.finish`` + ``Scorer.record_done`` do for the same
        record, in the same order of lines; reused scores (resume) are not written again.
        """
        summary, ledger = self.summary, self.ledger
        summary.add_record(record)
        for targets in plan.targets:
            for acc in targets:
                acc.total += 1
        tail = score_tail(record_identity(record), None)
        reuse = ledger.reusable
        sample_id, repeat = record.sample_id, record.repeat
        item: MetricInput | None = None
        scores: list[Score] = []
        lines: list[bytes] = []
        for metric, head in zip(plan.metrics, plan.heads, strict=True):
            fingerprint = head.of(tail)
            score = ledger.reuse(fingerprint) if reuse else None
            if score is None:
                if item is None:
                    item = inputs_for(sample, record, None)
                score = score_sync(metric, item)
                label = metric.name
                if (
                    score.metric != label
                    or score.sample_id != sample_id
                    or score.repeat != repeat
                    or score.turn is not None
                ):
                    score = score.model_copy(
                        update={
                            "metric": label,
                            "sample_id": sample_id,
                            "repeat": repeat,
                            "turn": None,
                        }
                    )
                # what ``score.fingerprint = ...`` does for a plain field, without the
                # generic __setattr__ (Score has no validate_assignment, no private attrs)
                score.__dict__["fingerprint"] = fingerprint
                score.__pydantic_fields_set__.add("fingerprint")
                lines.append(_to_json(score) + b"\n")
            scores.append(score)
        if lines:
            self.appender.write_lines(lines)  # one write per record, not one per score
            self.count += len(lines)
        folding = summary.folding
        for score, targets in zip(scores, plan.targets, strict=True):
            add_to(targets, score, by_sample=folding)
        if self.on_row is not None:
            self.on_row(Row(sample, record, scores, self.dataset.line_of(sample_id)))
