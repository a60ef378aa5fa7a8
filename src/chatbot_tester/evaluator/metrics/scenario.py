"""``goal_reached``: whether the simulated user of a ``scenario`` sample reached its goal.

Reads ``RunRecord.conversation`` (written by the runner's scenario driver): 1 when the
conversation ended because the simulated user said its goal was met (within ``max_turns``
bot replies, when set), else 0, with the stop reason and the turns to goal in the details.
"""

from __future__ import annotations

from pydantic import Field

from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.metrics.base import Metric, MetricInput, MetricOptions

__all__ = ["GoalReachedMetric"]


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
