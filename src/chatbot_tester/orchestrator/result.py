"""What a pipeline run returns, and what its evaluate stage hands back to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.schemas import DatasetInfo
from chatbot_tester.common.types import empty_dict, empty_list
from chatbot_tester.evaluator.report_model import EvalReport, GateOutcome
from chatbot_tester.runner import RunSummary

__all__ = ["PipelineResult", "StageEvaluation"]


class StageEvaluation(BaseModel):
    """What ``evaluate_stage`` returns: the report (with its decision) and the files written."""

    model_config = ConfigDict(extra="forbid")

    report: EvalReport
    """The evaluation summary; ``report.decision`` is the run's verdict."""
    reports: dict[str, Path] = Field(default_factory=empty_dict)
    """Report format -> path (comparison files included)."""
    comparison: dict[str, Any] | None = None
    """Comparison with ``evaluator.baseline``, when configured."""


class PipelineResult(BaseModel):
    """Outcome of ``run_pipeline``: where everything is and whether the run passed."""

    model_config = ConfigDict(extra="forbid")

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
    run: RunSummary | None = None
    """The runner's summary (counts, errors by kind, cost, seconds); ``None`` before the run."""
    report: EvalReport | None = None
    """The evaluation summary (what report.json holds), with the run's decision."""
    failed_gates: list[GateOutcome] = Field(default_factory=empty_list)
    """The gates that failed."""
    problems: list[str] = Field(default_factory=empty_list)
    """Other reasons for a non-zero exit (errors beyond tolerance, regressions)."""
    reports: dict[str, Path] = Field(default_factory=empty_dict)
    """Report format -> path."""
    comparison: dict[str, Any] | None = None
    """Comparison with ``evaluator.baseline``, when configured."""

    @property
    def passed(self) -> bool:
        """True when the run exits 0."""
        return self.exit_code == 0

    @property
    def summary(self) -> dict[str, Any] | None:
        """``report`` as the report.json dict (for callers that read dicts)."""
        return None if self.report is None else self.report.to_json_dict()

    def apply(self, evaluated: StageEvaluation) -> None:
        """Take the evaluate stage's outcome: report, files, comparison and decision."""
        decision = evaluated.report.decision
        self.report = evaluated.report
        self.reports = evaluated.reports
        self.comparison = evaluated.comparison
        self.failed_gates = decision.failed_gates
        self.problems.extend(decision.problems)
        if not decision.passed:
            self.exit_code = 1
