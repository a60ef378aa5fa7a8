"""The evaluator: score a run's answers, aggregate them, gate CI and write reports.

The public names are imported lazily so that importing a submodule (metrics, stats) does
not pull in the whole evaluation machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_tester.common.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot_tester.evaluator.evaluate import Evaluation, evaluate_run, write_reports

__all__ = ["Evaluation", "evaluate_run", "write_reports"]

_LAZY = dict.fromkeys(__all__, "chatbot_tester.evaluator.evaluate")
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
