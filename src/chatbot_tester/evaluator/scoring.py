"""Which metric scores what: the pipeline's metrics, per-sample assertions and per-turn slots.

A sample's *plan* lists its slots: one per turn of a multi-turn sample (metrics with
``per_turn`` plus the turn's assertions) and one for the whole sample (turn ``None``: every
pipeline metric plus the sample's assertions). ``inputs_for`` pairs a plan with a run record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.common.schemas import Assertion, Message, RunRecord, TestSample
from chatbot_tester.common.trusted import message
from chatbot_tester.errors import ChatbotTesterError, DatasetError
from chatbot_tester.evaluator.metrics.base import (
    Metric,
    MetricContext,
    MetricInput,
)
from chatbot_tester.evaluator.metrics.registry import metric_registry
from chatbot_tester.evaluator.resume import metric_fingerprint

__all__ = ["MetricSet", "Slot", "assertion_labels", "inputs_for", "no_answer_reason"]


@dataclass(frozen=True)
class Slot:
    """The metrics applied to one turn of a sample (or to the whole sample when turn is None)."""

    turn: int | None
    metrics: tuple[Metric, ...]


def assertion_labels(assertions: Sequence[Assertion]) -> list[str]:
    """Labels ``assert:<type>``, numbered ``assert:<type>:<n>`` when a type repeats."""
    counts = Counter(a.type for a in assertions)
    seen: Counter[str] = Counter()
    labels = []
    for a in assertions:
        name = (a.model_extra or {}).get("name")
        if isinstance(name, str) and name:
            labels.append(f"assert:{name}")
            continue
        seen[a.type] += 1
        labels.append(
            f"assert:{a.type}" if counts[a.type] == 1 else f"assert:{a.type}:{seen[a.type]}"
        )
    return labels


class MetricSet:
    """The pipeline's metrics plus assertion metrics, created once and shared across samples."""

    def __init__(self, config: EvaluatorConfig, context: MetricContext) -> None:
        self.context = context
        self.metrics: list[Metric] = []
        self._only_tags: dict[str, frozenset[str]] = {}
        self._assertions: dict[tuple[str, str, bytes], Metric] = {}
        self._fingerprints: dict[int, str] = {}
        self.assertion_labels: set[str] = set()
        for spec in config.metrics:
            metric = metric_registry.create(
                spec.type, spec.resolved_options(), name=spec.label, context=context
            )
            self.metrics.append(metric)
            self._fingerprints[id(metric)] = metric_fingerprint(
                {
                    "type": spec.type,
                    "label": spec.label,
                    "options": spec.options,
                    "only_tags": spec.only_tags,
                },
                _judge_identity(metric),
            )
            if spec.only_tags is not None:
                self._only_tags[spec.label] = frozenset(spec.only_tags)
        self._all = tuple(self.metrics)
        self._per_turn = tuple(m for m in self.metrics if type(m).per_turn)

    @property
    def labels(self) -> list[str]:
        """Labels of the pipeline's metrics, in config order."""
        return [m.name for m in self.metrics]

    def _assertion_metrics(
        self,
        assertions: Sequence[Assertion],
        sample: TestSample,
        where: str,
        file: Path | None,
        line: int | None,
    ) -> tuple[Metric, ...]:
        if not assertions:
            return ()
        out = []
        for i, (assertion, label) in enumerate(
            zip(assertions, assertion_labels(assertions), strict=True)
        ):
            options = {k: v for k, v in (assertion.model_extra or {}).items() if k != "name"}
            key = (label, assertion.type, orjson.dumps(options, option=orjson.OPT_SORT_KEYS))
            metric = self._assertions.get(key)
            if metric is None:
                try:
                    metric = metric_registry.create(
                        assertion.type, options, name=label, context=self.context
                    )
                except ChatbotTesterError as exc:
                    raise DatasetError(
                        f"sample '{sample.id}' {where}assertions[{i}]: {exc}", file=file, line=line
                    ) from None
                self._assertions[key] = metric
                self._fingerprints[id(metric)] = metric_fingerprint(
                    {"assertion": {"type": assertion.type, **options}, "label": label},
                    _judge_identity(metric),
                )
                self.assertion_labels.add(label)
            out.append(metric)
        return tuple(out)

    def for_tags(self, sample_tags: Iterable[str]) -> tuple[tuple[Metric, ...], tuple[Metric, ...]]:
        """The pipeline metrics that apply to a sample with these tags: all, and per turn."""
        every, per_turn = self._all, self._per_turn
        if self._only_tags:
            tags = set(sample_tags)
            keep = [
                m for m in every if m.name not in self._only_tags or tags & self._only_tags[m.name]
            ]
            every, per_turn = tuple(keep), tuple(m for m in per_turn if m in keep)
        return every, per_turn

    def plan(
        self, sample: TestSample, *, file: Path | None = None, line: int | None = None
    ) -> list[Slot]:
        """The slots of ``sample``; bad assertions raise DatasetError naming file and line."""
        slots: list[Slot] = []
        every, per_turn = self.for_tags(sample.tags)
        if sample.turns is not None:
            for i, turn in enumerate(sample.turns):
                extra = self._assertion_metrics(turn.assertions, sample, f"turns[{i}].", file, line)
                if per_turn or extra:
                    slots.append(Slot(i, per_turn + extra))
        whole = self._assertion_metrics(sample.assertions, sample, "", file, line)
        slots.append(Slot(None, every + whole))
        return slots

    def fingerprint(self, metric: Metric) -> str:
        """The configuration hash of one of this set's metrics (part of each score's fingerprint)."""
        return self._fingerprints[id(metric)]

    def all_metrics(self) -> Iterator[Metric]:
        """Every metric instance created (for closing)."""
        yield from self.metrics
        yield from self._assertions.values()

    async def aclose(self) -> None:
        """Close every metric; a failing close does not stop the others."""
        for metric in self.all_metrics():
            try:
                await metric.aclose()
            except Exception:  # closing must not hide the evaluation's result
                continue


def _judge_identity(metric: Metric) -> dict[str, Any] | None:
    """Backend, model and params of a judge metric's judge (never its options: secrets)."""
    judge = getattr(metric, "judge_config", None)
    if judge is None:
        return None
    return {
        "backend": getattr(judge, "backend", None),
        "model": getattr(judge, "model", None),
        "params": getattr(judge, "params", None),
    }


def no_answer_reason(record: RunRecord, turn: int | None) -> str | None:
    """``"no answer: <kind>"`` when the record (or that turn) has no answer, else ``None``."""
    if turn is None:
        if record.ok:
            return None
        return f"no answer: {record.error.kind.value if record.error else 'missing'}"
    turns = record.turns or []
    if turn < len(turns):
        tr = turns[turn]
        if tr.error is None and tr.response is not None:
            return None
        if tr.error is not None:
            return f"no answer: {tr.error.kind.value}"
    kind = record.error.kind.value if record.error else "missing"
    return f"no answer: {kind}"


def _turn_expected(sample: TestSample, turn: int) -> list[str]:
    assert sample.turns is not None
    exp = sample.turns[turn].expected
    if exp is None:
        return []
    return [exp] if isinstance(exp, str) else list(exp)


def _conversation(sample: TestSample, record: RunRecord, upto: int | None) -> list[Message]:
    if sample.scenario is not None:  # a simulated conversation: the recorded transcript
        msgs = []
        for said in record.turns or []:
            msgs.append(message("user", said.user))
            if said.response is not None:
                msgs.append(message("assistant", said.response.text))
        return msgs
    if sample.turns is None:
        text = sample.input
        msgs = [message("user", text)] if isinstance(text, str) else sample.input_messages()
        if record.response is not None:
            msgs.append(message("assistant", record.response.text))
        return msgs
    msgs = []
    turns = record.turns or []
    last = len(sample.turns) - 1 if upto is None else upto
    for i, turn in enumerate(sample.turns[: last + 1]):
        msgs.append(message("user", turn.user))
        if i < len(turns) and turns[i].response is not None:
            resp = turns[i].response
            assert resp is not None
            msgs.append(message("assistant", resp.text))
    return msgs


def inputs_for(sample: TestSample, record: RunRecord, turn: int | None) -> MetricInput:
    """The MetricInput for one slot of a record (output ``None`` when there is no answer)."""
    if turn is None:
        output = record.response.text if record.ok and record.response is not None else None
        expected = sample.expected_list()
    else:
        turns = record.turns or []
        tr = turns[turn] if turn < len(turns) else None
        ok = tr is not None and tr.error is None and tr.response is not None
        output = tr.response.text if ok and tr is not None and tr.response is not None else None
        expected = _turn_expected(sample, turn)
    return MetricInput(
        sample=sample,
        record=record,
        output=output,
        expected=expected,
        turn=turn,
        conversation=_conversation(sample, record, turn),
    )
