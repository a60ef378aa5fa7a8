"""What ``evaluate`` returns: every sample with its record and scores, and the report.

Typed models first; ``to_pandas()`` is a view for notebooks (pandas is optional and imported
only there), one row per score so that nothing (turns, repeats) is folded away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.redact import mask_secrets
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.common.types import empty_list
from chatbot_tester.errors import UsageError
from chatbot_tester.evaluator.report_model import EvalReport

if TYPE_CHECKING:
    import pandas

__all__ = ["EvaluationResult", "SampleResult"]

_EXPLAIN_LIMIT = 2000
"""Characters of an answer or expected text shown in an explanation."""


def _cut(text: str) -> str:
    text = mask_secrets(text)
    return text if len(text) <= _EXPLAIN_LIMIT else text[:_EXPLAIN_LIMIT] + "… [truncated]"


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, list):
        return _cut(" | ".join(getattr(v, "content", str(v)) for v in value))
    return _cut(str(value))


class SampleResult(BaseModel):
    """One sample (or one repeat of it): its run record and every score it got."""

    model_config = ConfigDict(extra="forbid")

    sample: TestSample
    """The sample as evaluated."""
    record: RunRecord | None
    """The answer (or the error) recorded for it; ``None`` when it was never run."""
    scores: list[Score] = Field(default_factory=empty_list)
    """Its scores: whole-sample first, then per turn, in metric order."""

    @property
    def sample_id(self) -> str:
        """The sample's id."""
        return self.sample.id

    @property
    def answer(self) -> str | None:
        """The chatbot's (last) answer text; ``None`` when it gave none."""
        if self.record is None or self.record.response is None:
            return None
        return self.record.response.text

    @property
    def error(self) -> str | None:
        """Why the sample has no answer (``kind: message``), if so."""
        if self.record is None:
            return "not run"
        err = self.record.error
        return None if err is None else f"{err.kind.value}: {err.message}"

    @property
    def passed(self) -> bool:
        """Answered, no score failed its verdict and every metric could score it."""
        return self.error is None and all(
            s.error is None and s.passed is not False for s in self.scores
        )

    def score(self, metric: str, turn: int | None = None) -> Score:
        """The score of ``metric`` (for ``turn``, or the whole sample)."""
        for s in self.scores:
            if s.metric == metric and s.turn == turn:
                return s
        names = sorted({s.metric for s in self.scores})
        raise UsageError(f"sample '{self.sample_id}' has no score '{metric}' (scores: {names})")

    def explain(self) -> str:
        """A few lines for a failure message: input, expected, answer, every score and reason."""
        head = (
            self.sample_id
            if self.record is None or not self.record.repeat
            else (f"{self.sample_id} #{self.record.repeat}")
        )
        lines = [f"sample {head}: {'passed' if self.passed else 'FAILED'}"]
        turns = self.sample.turns
        lines.append(
            f"  input:    {_text(self.sample.input if turns is None else [t.user for t in turns])}"
        )
        lines.append(f"  expected: {_text(self.sample.expected)}")
        if self.error is not None:
            lines.append(f"  error:    {self.error}")
        else:
            lines.append(f"  answer:   {_text(self.answer)}")
        for s in self.scores:
            where = s.metric if s.turn is None else f"{s.metric} (turn {s.turn + 1})"
            verdict = "error" if s.error else {True: "pass", False: "FAIL", None: "-"}[s.passed]
            value = "" if s.value is None else f" {s.value:g}"
            why = s.error or s.reason
            lines.append(f"  {verdict:5} {where}{value}" + (f": {_text(why)}" if why else ""))
        return "\n".join(lines)


class EvaluationResult(BaseModel):
    """The outcome of ``evaluate``: per-sample results, the summary report and its decision."""

    model_config = ConfigDict(extra="forbid")

    samples: list[SampleResult]
    """One entry per (sample, repeat), in the order the samples were given."""
    report: EvalReport
    """The summary (what report.json holds): per-metric means, pass rates, gates, decision."""

    @property
    def passed(self) -> bool:
        """The run's decision: gates, errors and metrics that could not score."""
        return self.report.decision.passed

    @property
    def failures(self) -> list[SampleResult]:
        """The samples that did not pass (see ``SampleResult.passed``)."""
        return [s for s in self.samples if not s.passed]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, sample_id: str) -> SampleResult:
        """The (first) result of ``sample_id``."""
        for s in self.samples:
            if s.sample_id == sample_id:
                return s
        raise KeyError(sample_id)

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per score (samples without a score get one row with ``metric=None``)."""
        rows: list[dict[str, Any]] = []
        for result in self.samples:
            record = result.record
            base = {
                "sample_id": result.sample_id,
                "repeat": 0 if record is None else record.repeat,
                "input": result.sample.input if isinstance(result.sample.input, str) else None,
                "expected": result.sample.expected,
                "answer": result.answer,
                "error": result.error,
                "latency_ms": None if record is None else record.latency_ms,
                "tags": list(result.sample.tags),
            }
            scores: list[Score | None] = list(result.scores) or [None]
            for s in scores:
                rows.append(
                    {
                        **base,
                        "turn": None if s is None else s.turn,
                        "metric": None if s is None else s.metric,
                        "value": None if s is None else s.value,
                        "passed": None if s is None else s.passed,
                        "reason": None if s is None else s.reason,
                        "score_error": None if s is None else s.error,
                    }
                )
        return rows

    def to_pandas(self) -> pandas.DataFrame:
        """``to_records()`` as a DataFrame (long format: pivot on ``metric`` for a wide view)."""
        try:
            import pandas
        except ImportError:
            raise UsageError("to_pandas() needs pandas (pip install pandas)") from None
        return pandas.DataFrame.from_records(self.to_records())
