"""The runner stage: send a dataset to the chatbot under test and record every answer.

``run_job`` and the rest are imported lazily, so ``import chatbot_tester.runner`` (or its
``backends`` alias module) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_tester.common.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot_tester.runner.resume import read_records
    from chatbot_tester.runner.run import RunSummary, count_samples, run_job

__all__ = ["RunSummary", "count_samples", "read_records", "run_job"]

_LAZY = {
    "RunSummary": "chatbot_tester.runner.run",
    "count_samples": "chatbot_tester.runner.run",
    "run_job": "chatbot_tester.runner.run",
    "read_records": "chatbot_tester.runner.resume",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
