"""The variant group comparison model: what ``compare_group`` returns and its reports render.

Kept apart from the comparison itself so the reports import it without an import circle.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.types import empty_dict, empty_list
from chatbot_tester.evaluator.compare_model import Comparison

__all__ = ["FlippedSample", "GroupComparison", "VariantSide"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantSide(_Model):
    """One variant's run."""

    name: str
    """Variant name."""
    run_id: str
    """The variant's run id."""
    run_dir: str
    """The variant's run directory."""


class FlippedSample(_Model):
    """A sample whose verdict differs between the baseline and a variant, with both answers."""

    metric: str
    """The pass/fail metric that flipped."""
    flip: Literal["pass_to_fail", "fail_to_pass"]
    """Which way it went."""
    sample_id: str
    """The sample's id (in the baseline run)."""
    question: str
    """The sample's input (the last user message for conversations)."""
    baseline_answer: str | None = None
    """The baseline variant's answer (``None`` when it errored)."""
    variant_answer: str | None = None
    """This variant's answer (``None`` when it errored; see ``variant_error``)."""
    variant_error: str | None = None
    """This variant's error message, when it errored."""


class GroupComparison(_Model):
    """Every variant against the baseline variant: what ``compare.json`` of a group holds."""

    schema_version: int = 1
    """Format version of this file."""
    group: str
    """The group id shared by the variants' manifests."""
    baseline: VariantSide
    """The baseline variant."""
    variants: list[VariantSide] = Field(default_factory=empty_list)
    """The other variants, in config order."""
    comparisons: dict[str, Comparison] = Field(default_factory=empty_dict)
    """Variant name -> its comparison with the baseline."""
    flipped: dict[str, list[FlippedSample]] = Field(default_factory=empty_dict)
    """Variant name -> flipped samples with the question and both answers."""
    problems: dict[str, str] = Field(default_factory=empty_dict)
    """Variant name -> why it could not be compared (then it counts as a regression)."""

    @property
    def regressed(self) -> list[str]:
        """Variants that regressed against the baseline (or could not be compared)."""
        bad = [n for n, c in self.comparisons.items() if c.has_regression]
        return bad + [n for n in self.problems if n not in bad]

    @property
    def exit_code(self) -> int:
        """1 when any variant regressed against the baseline, else 0."""
        return 1 if self.regressed else 0
