"""The evaluator: score a run's answers, aggregate them into an ``EvalReport``, feed reporters.

The public names are imported lazily so that importing a submodule (metrics, stats) does
not pull in the whole evaluation machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_tester.common.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot_tester.evaluator.evaluate import Evaluation, evaluate_run
    from chatbot_tester.evaluator.report_model import Decision, EvalReport
    from chatbot_tester.evaluator.reports.base import Reporter, Row

__all__ = ["Decision", "EvalReport", "Evaluation", "Reporter", "Row", "evaluate_run"]

_WHERE = {
    "Evaluation": "chatbot_tester.evaluator.evaluate",
    "evaluate_run": "chatbot_tester.evaluator.evaluate",
    "Decision": "chatbot_tester.evaluator.report_model",
    "EvalReport": "chatbot_tester.evaluator.report_model",
    "Reporter": "chatbot_tester.evaluator.reports.base",
    "Row": "chatbot_tester.evaluator.reports.base",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
