"""LLM-as-judge metrics: ``llm_judge`` (a rubric) and ``g_eval`` (named criteria and steps).

The judge grades on a numeric ``scale`` (default 1..5) and must reply
``{"score": <number>, "reason": "..."}``; an unparseable reply or a score off the scale is an
error, never a 0. ``pass_threshold`` is on the scale (default three quarters of the way up:
4 on 1..5); the Score's ``value`` is normalised to 0..1. With ``votes: n`` the judge is asked
n times (concurrently, each with its own seed, so repeated votes are reproducible yet
independent) and the votes are combined by ``majority`` (the median vote) or ``mean``;
``details`` lists every vote, the agreement and ``unstable: true`` when votes disagree on
pass/fail. The answer under test is delimited as data (see ``judge_prompt``).
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import TypeVar as DefaultedTypeVar

from chatbot_tester.common.schemas import Message, Score
from chatbot_tester.common.types import empty_list
from chatbot_tester.evaluator.metrics.base import MetricContext, MetricInput
from chatbot_tester.evaluator.metrics.judge_base import (
    JudgeBackendOptions,
    JudgeMetricBase,
    data_blocks,
)
from chatbot_tester.evaluator.metrics.judge_prompt import build_judge_messages, rubric_from_criteria
from chatbot_tester.evaluator.metrics.judge_verdict import Vote, parse_verdict, tally_votes
from chatbot_tester.evaluator.metrics.pairwise import PairwiseJudgeMetric, PairwiseOptions

__all__ = [
    "DEFAULT_RUBRIC",
    "Criterion",
    "GEvalMetric",
    "GEvalOptions",
    "JudgeOptions",
    "LLMJudgeMetric",
    "PairwiseJudgeMetric",
    "PairwiseOptions",
]

DEFAULT_RUBRIC = (
    "Grade how correct, complete and relevant the answer is to the question. When a reference "
    "answer is given, an answer that agrees with it is correct and one that contradicts it is "
    "wrong; extra helpful detail is fine. When context documents are given, claims the context "
    "does not support count against the answer."
)
"""Rubric used by ``llm_judge`` when neither ``rubric`` nor ``criteria`` is set."""


class Criterion(BaseModel):
    """One G-Eval criterion."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    """Short name, e.g. ``coherence``."""
    description: str = Field(min_length=1)
    """What the criterion asks of the answer."""


class JudgeOptions(JudgeBackendOptions):
    """Options of ``llm_judge``."""

    rubric: str | None = None
    """What the judge grades (default: correctness against the question and reference)."""
    criteria: list[Criterion] | None = None
    """G-Eval style criteria (instead of a rubric): a list of {name, description} or a mapping."""
    steps: list[str] = Field(default_factory=empty_list)
    """Evaluation steps shown to the judge after the criteria."""
    scale: tuple[float, float] = (1.0, 5.0)
    """Lowest and highest score, e.g. [1, 5] or [1, 10]."""
    pass_threshold: float | None = None
    """Passing score on the scale (default: three quarters up, 4 on 1..5, 7.75 on 1..10)."""
    votes: int = Field(default=1, ge=1, le=25)
    """Judge calls per answer (an odd number avoids ties)."""
    aggregate: Literal["majority", "mean"] = "majority"
    """How votes combine: the median vote (majority pass/fail) or the mean score."""
    seed: int = 0
    """Base seed; vote i is sent with seed + i when votes > 1 (or when params set a seed)."""

    @field_validator("criteria", mode="before")
    @classmethod
    def _criteria_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"name": k, "description": v} for k, v in value.items()]
        return value

    @model_validator(mode="after")
    def _check(self) -> JudgeOptions:
        low, high = self.scale
        if not low < high:
            raise ValueError(
                f"scale must be [lowest, highest] with lowest < highest, got {list(self.scale)}"
            )
        if self.rubric is not None and self.criteria is not None:
            raise ValueError("give either 'rubric' or 'criteria', not both")
        if self.criteria is not None and not self.criteria:
            raise ValueError("'criteria' must list at least one criterion")
        if self.pass_threshold is not None and self.threshold is not None:
            raise ValueError(
                "give either 'pass_threshold' (on the scale) or 'threshold' (0..1), not both"
            )
        if self.pass_threshold is not None and not low <= self.pass_threshold <= high:
            raise ValueError(
                f"pass_threshold {self.pass_threshold:g} is outside the scale {low:g}..{high:g}"
            )
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(
                "'threshold' is on the normalised 0..1 value; use 'pass_threshold' for the scale"
            )
        return self

    @property
    def pass_at(self) -> float:
        """The passing score on the scale."""
        low, high = self.scale
        if self.pass_threshold is not None:
            return self.pass_threshold
        if self.threshold is not None:
            return low + self.threshold * (high - low)
        return low + 0.75 * (high - low)

    def rubric_text(self) -> str:
        """The rubric shown to the judge."""
        if self.criteria is not None:
            return rubric_from_criteria(
                [(c.name, c.description) for c in self.criteria], self.steps
            )
        text = self.rubric if self.rubric is not None else DEFAULT_RUBRIC
        if self.steps:
            text += "\n\nFollow these evaluation steps:\n" + "\n".join(
                f"{i}. {s}" for i, s in enumerate(self.steps, start=1)
            )
        return text


class GEvalOptions(JudgeOptions):
    """Options of ``g_eval``: ``criteria`` are required."""

    @model_validator(mode="after")
    def _needs_criteria(self) -> GEvalOptions:
        if self.criteria is None:
            raise ValueError("g_eval needs 'criteria': a list of {name, description}")
        return self


_JudgeT = DefaultedTypeVar("_JudgeT", bound=JudgeOptions, default=JudgeOptions, covariant=True)
"""Options of ``llm_judge`` or of a metric built on it (``g_eval``)."""


class LLMJudgeMetric(JudgeMetricBase[_JudgeT]):
    """Grade the answer with an LLM judge against a rubric, with optional repeated votes."""

    Options = JudgeOptions
    description = (
        "LLM judge: grade the answer against a rubric on a numeric scale (votes, injection-safe)."
    )

    def __init__(self, options: _JudgeT, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        self.opts = options
        self.rubric = options.rubric_text()

    def vote_params(self, index: int) -> dict[str, Any]:
        """Sampling parameters of vote ``index``: temperature 0 for a single vote, seeds per vote."""
        params = dict(self.judge_config.params)
        votes = self.opts.votes
        params.setdefault("temperature", 0 if votes == 1 else 0.7)
        if votes > 1 or "seed" in params:
            base = params.get("seed", self.opts.seed)
            params["seed"] = (base if isinstance(base, int) else self.opts.seed) + index
        return params

    def build_messages(self, item: MetricInput, answer: str) -> list[Message]:
        """The judge prompt: instructions in the system message, the material as data blocks."""
        opts = self.opts
        blocks = data_blocks(
            item, include_context=opts.include_context, max_chars=opts.max_chars, answer=answer
        )
        return build_judge_messages(self.rubric, opts.scale, blocks)

    async def _vote(self, messages: list[Message], index: int, item_id: str) -> Vote:
        scale = self.opts.scale

        def valid(text: str) -> bool:
            try:
                parse_verdict(text, scale)
            except ValueError:
                return False
            return True

        reply = await self.client.ask(
            messages, self.vote_params(index), accept=valid, item_id=item_id
        )
        if reply.text is None:
            return Vote(None, None, reply.error or "judge call failed")
        try:
            verdict = parse_verdict(reply.text, scale)
        except ValueError as exc:
            return Vote(None, None, str(exc), cached=reply.cached)
        return Vote(verdict.score, verdict.reason, None, cached=reply.cached)

    async def score(self, item: MetricInput) -> Score:
        """Ask the judge ``votes`` times and combine the verdicts."""
        if item.output is None:
            return self.no_answer(item)
        opts = self.opts
        messages = self.build_messages(item, item.output)
        votes: list[Vote | None] = [None] * opts.votes

        async def run(i: int) -> None:
            votes[i] = await self._vote(messages, i, item.record.sample_id)

        async with anyio.create_task_group() as tg:
            for i in range(opts.votes):
                tg.start_soon(run, i)
        done = [v for v in votes if v is not None]
        tally = tally_votes(done, opts.scale, opts.pass_at, opts.aggregate)
        details: dict[str, Any] = {
            "votes": [v.as_dict() for v in done],
            "agreement": tally.agreement,
            "unstable": tally.unstable,
            "score": tally.raw,
            "scale": list(opts.scale),
            "pass_threshold": opts.pass_at,
            "aggregate": opts.aggregate,
            "vote_errors": tally.errors,
            "cached_votes": sum(1 for v in done if v.cached),
            "judge": self.judge_details(),
        }
        if tally.error is not None:
            return self.make(item, error=f"judge: {tally.error}", details=details)
        return self.make(item, tally.value, tally.passed, reason=tally.reason, details=details)


class GEvalMetric(LLMJudgeMetric[GEvalOptions]):
    """G-Eval: grade the answer on named criteria following explicit evaluation steps."""

    Options = GEvalOptions
    description = "G-Eval: LLM judge on named criteria and evaluation steps, numeric scale."
