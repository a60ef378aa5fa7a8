"""Reports of an evaluation: JSON, self-contained HTML, JUnit XML, a Markdown summary, plugins.

Every format is a ``Reporter`` (see ``reports.base``) in ``reporter_registry``: the four
built-ins are registered as lazy references (``common.registry.BUILTIN_REPORTERS``: their
modules, Jinja included, load only when used), third-party ones through the
``chatbot_tester.reporters`` entry-point group.
Where the bytes go (files in the run directory, ``$GITHUB_STEP_SUMMARY``) is the
orchestrator's business.
"""

from __future__ import annotations

from chatbot_tester.common.registry import BUILTIN_REPORTERS
from chatbot_tester.evaluator.reports.base import (
    Reporter,
    Row,
    register_reporter,
    reporter_registry,
)
from chatbot_tester.evaluator.reports.step_summary import append_step_summary

__all__ = [
    "BUILTIN_REPORTERS",
    "Reporter",
    "Row",
    "append_step_summary",
    "register_reporter",
    "reporter_registry",
]
