"""The run's one decision: gates, errors beyond tolerance, unscored samples, other problems.

Computed once per evaluation and carried in the ``EvalReport`` (``decision`` and ``passed``),
so the exit code, the badge of report.html, report.md's heading and report.json agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatbot_tester.evaluator.report_model import Decision, EvalReport

__all__ = ["decide", "error_problems"]


def error_problems(report: EvalReport, tolerance: float) -> list[str]:
    """Records that ended in errors beyond ``tolerance``, and metrics that could not score.

    An evaluation that scored nothing must not pass CI silently; records that errored in the
    runner are counted once, so only answered-but-unscored samples count against a metric.
    """
    totals = report.totals
    records, errors = max(1, totals.records), totals.errors
    problems = []
    if errors and errors / records > tolerance:
        problems.append(
            f"{errors} of {records} samples ended in errors (runner.max_error_rate is {tolerance:g})"
        )
    for name, stats in report.metrics.items():
        total, scored = stats.total, stats.scored
        unscored = max(0, total - scored - errors)
        if total and (scored == 0 or unscored / total > tolerance):
            problems.append(
                f"metric '{name}' could not score {total - scored} of {total} samples "
                "(see the errors in scores.jsonl)"
            )
    return problems


def decide(
    report: EvalReport, *, max_error_rate: float | None = None, problems: Sequence[str] = ()
) -> Decision:
    """The decision for ``report``: failed gates, error problems, ``problems`` from elsewhere.

    Error problems are checked when ``max_error_rate`` is given; ``problems`` are reasons
    found outside the evaluation (a baseline regression).
    """
    failed = [g for g in report.gates if not g.passed]
    found = list(problems)
    if max_error_rate is not None:
        found = error_problems(report, max_error_rate) + found
    return Decision(passed=not failed and not found, failed_gates=failed, problems=found)
