"""What a pipeline run returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.schemas import DatasetInfo

__all__ = ["PipelineResult"]


class PipelineResult(BaseModel):
    """Outcome of ``run_pipeline``: where everything is and whether the run passed."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    run_id: str
    """The run's id."""
    run_dir: Path
    """The run directory holding manifest, dataset, results, scores and reports."""
    status: str
    """completed, interrupted, aborted or budget_exhausted."""
    exit_code: int
    """0 passed; 1 a gate failed, errors beyond tolerance or a significant regression; 130 interrupted."""
    dataset: DatasetInfo
    """The dataset used."""
    generation_skipped: bool = False
    """True when an identical dataset already existed in the workspace."""
    run: dict[str, Any] = Field(default_factory=dict)
    """The runner's summary (counts, errors by kind, cost, seconds)."""
    summary: dict[str, Any] | None = None
    """The evaluation summary (report.json content)."""
    failed_gates: list[str] = Field(default_factory=list)
    """One line per failed gate."""
    problems: list[str] = Field(default_factory=list)
    """Other reasons for a non-zero exit (errors beyond tolerance, regressions)."""
    reports: dict[str, Path] = Field(default_factory=dict)
    """Report format -> path."""
    comparison: dict[str, Any] | None = None
    """Comparison with ``evaluator.baseline``, when configured."""

    @property
    def passed(self) -> bool:
        """True when the run exits 0."""
        return self.exit_code == 0
