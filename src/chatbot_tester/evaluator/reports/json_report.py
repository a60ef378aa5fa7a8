"""``report.json``: the ``EvalReport``, indented, for gates, ``compare`` and other tools."""

from __future__ import annotations

from typing import Any

import orjson

from chatbot_tester.evaluator.report_model import EvalReport
from chatbot_tester.evaluator.reports.base import Reporter

__all__ = ["JsonReporter", "render_json"]


def render_json(summary: EvalReport | dict[str, Any]) -> bytes:
    """The report as indented JSON bytes (NaN/inf become null; keys keep their order)."""
    data = summary.to_json_dict() if isinstance(summary, EvalReport) else summary
    return orjson.dumps(
        data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
    )


class JsonReporter(Reporter):
    """Writes the summary only: rows are not part of report.json."""

    file_name = "report.json"

    def finish(self, report: EvalReport) -> None:
        """Write the report (see ``Reporter.finish``)."""
        self.out.write(render_json(report))
