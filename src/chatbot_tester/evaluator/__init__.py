"""The evaluator: score a run's answers, aggregate them, gate CI and write reports.

The public names are imported lazily so that importing a submodule (metrics, stats) does
not pull in the whole evaluation machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatbot_tester.evaluator.evaluate import Evaluation, evaluate_run, write_reports

__all__ = ["Evaluation", "evaluate_run", "write_reports"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("chatbot_tester.evaluator.evaluate"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
