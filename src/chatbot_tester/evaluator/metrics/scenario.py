"""``goal_reached`` and ``goal_judge``: whether a ``scenario`` sample's goal was reached.

``goal_reached`` reads ``RunRecord.conversation`` (written by the runner's scenario driver): 1 when the
conversation ended because the simulated user said its goal was met (within ``max_turns``
bot replies, when set), else 0, with the stop reason and the turns to goal in the details.
``goal_judge`` asks the judge instead: it reads the whole transcript and the goal (as data).
"""

from __future__ import annotations

from pydantic import Field

from chatbot_tester.common.schemas import Message, Score
from chatbot_tester.evaluator.metrics.base import Metric, MetricContext, MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.judge import JudgeOptions, LLMJudgeMetric
from chatbot_tester.evaluator.metrics.judge_base import data_blocks
from chatbot_tester.evaluator.metrics.judge_prompt import DataBlock, build_judge_messages

__all__ = ["GOAL_RUBRIC", "GoalJudgeMetric", "GoalReachedMetric"]


class GoalReachedOptions(MetricOptions):
    """Options of ``goal_reached``."""

    max_turns: int | None = Field(default=None, ge=1)
    """Pass only when the goal was reached within this many bot replies."""


class GoalReachedMetric(Metric[GoalReachedOptions]):
    """1 when the simulated user reached its goal (in time), else 0."""

    Options = GoalReachedOptions
    per_turn = False
    description = (
        "Simulated conversations (scenario samples): 1 when the simulated user reached its goal."
    )

    async def score(self, item: MetricInput) -> Score:
        """Compare how the conversation ended with its goal."""
        sample, record = item.sample, item.record
        if sample.scenario is None:
            return self.make(item, error=f"sample '{sample.id}' has no scenario")
        outcome = record.conversation
        if outcome is None:
            kind = record.error.kind.value if record.error else "missing"
            return self.make(item, error=f"no simulated conversation: {kind}")
        limit = self.options.max_turns
        reached = outcome.stop_reason == "goal"
        in_time = reached and (limit is None or (outcome.turns_to_goal or 0) <= limit)
        if in_time:
            reason = f"goal reached in {outcome.turns_to_goal} turn(s)"
        elif reached:
            reason = f"goal reached in {outcome.turns_to_goal} turns, over the {limit} allowed"
        else:
            reason = f"goal not reached: {outcome.stop_reason} after {outcome.turns} turn(s)"
        details = {
            "stop_reason": outcome.stop_reason,
            "turns": outcome.turns,
            "turns_to_goal": outcome.turns_to_goal,
        }
        return self.make(item, 1.0 if in_time else 0.0, in_time, reason=reason, details=details)


GOAL_RUBRIC = (
    "The conversation is between a user and an assistant. Grade how fully the assistant "
    "achieved the user's goal (and its success criteria, when given) by the end of the "
    "conversation: the top of the scale when the goal was clearly achieved, the bottom when it "
    "was not achieved at all. The user's own claim that it is done is not enough."
)
"""Rubric of ``goal_judge`` when no ``rubric`` or ``criteria`` is set."""


class GoalJudgeMetric(LLMJudgeMetric[JudgeOptions]):
    """An LLM judge reads the whole simulated conversation and grades whether the goal was met."""

    Options = JudgeOptions
    description = (
        "Simulated conversations: an LLM judge grades whether the scenario's goal was achieved."
    )

    def __init__(self, options: JudgeOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        if options.rubric is None and options.criteria is None:
            self.rubric = GOAL_RUBRIC

    def build_messages(self, item: MetricInput, answer: str) -> list[Message]:
        """The judge prompt, with the goal and criteria as a data block (they are dataset text)."""
        messages = super().build_messages(item, answer)
        scenario = item.sample.scenario
        if scenario is None:
            return messages
        goal = f"Goal: {scenario.goal}"
        if scenario.success_criteria:
            goal += f"\nSuccess criteria: {scenario.success_criteria}"
        blocks = data_blocks(
            item,
            include_context=self.opts.include_context,
            max_chars=self.opts.max_chars,
            answer=answer,
        )
        return build_judge_messages(
            self.rubric, self.opts.scale, [DataBlock("user_goal", goal), *blocks]
        )

    async def score(self, item: MetricInput) -> Score:
        """Grade a scenario sample (any other sample is an error, not a guess)."""
        if item.sample.scenario is None:
            return self.make(item, error=f"sample '{item.sample.id}' has no scenario")
        return await super().score(item)
