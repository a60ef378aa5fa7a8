"""What ``run`` says at the end: the PASS/FAIL verdict line and the ``--json`` summary.

The verdict is one line on stderr, green ``PASS`` or red ``FAIL`` with the first reason
(click drops the colour when stderr is not a terminal). The JSON summary is one object on
stdout for scripts: run id and directory, status, exit code, per-metric figures, gates and
problems.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from chatbot_tester.orchestrator.result import PipelineResult

__all__ = ["json_summary", "verdict", "verdict_line"]


def verdict(result: PipelineResult) -> tuple[bool, str]:
    """``(passed, reason)`` of a run, the reason in a few words."""
    run = result.run
    counts = ""
    if run is not None:
        counts = f"{run.total} samples, {run.errors} errors"
    if result.passed:
        gates = "all gates passed" if result.report is not None else "no evaluation"
        return True, f"{gates} ({counts})" if counts else gates
    reasons = [g.message for g in result.failed_gates] + list(result.problems)
    reason = reasons[0] if reasons else f"exit code {result.exit_code}"
    if len(reasons) > 1:
        reason += f" (+{len(reasons) - 1} more)"
    return False, reason


def verdict_line(result: PipelineResult) -> str:
    """``PASS: ...`` / ``FAIL: ...``, coloured."""
    from chatbot_tester.common.text import one_line

    passed, reason = verdict(result)
    label = (
        click.style("PASS", fg="green", bold=True)
        if passed
        else click.style("FAIL", fg="red", bold=True)
    )
    return f"{label}: {one_line(reason)}"


def json_summary(result: PipelineResult) -> dict[str, Any]:
    """The machine-readable summary printed by ``run --json``."""
    passed, reason = verdict(result)
    metrics: dict[str, Any] = {}
    if result.report is not None:
        for name, m in result.report.metrics.items():
            metrics[name] = {
                "pass_rate": m.pass_rate,
                "mean": m.mean,
                "passed": m.passed,
                "failed": m.failed,
                "scored": m.scored,
                "total": m.total,
                "errors": m.errors,
            }
    run = result.run
    return {
        "run_id": result.run_id,
        "run_dir": str(result.run_dir),
        "status": result.status,
        "passed": passed,
        "exit_code": result.exit_code,
        "reason": reason,
        "samples": run.total if run is not None else result.dataset.count,
        "errors": run.errors if run is not None else None,
        "cost_usd": run.cost_usd if run is not None else None,
        "metrics": metrics,
        "failed_gates": [g.message for g in result.failed_gates],
        "problems": list(result.problems),
        "reports": {k: str(v) for k, v in sorted(result.reports.items())},
    }
