"""Reports of an evaluation: JSON, self-contained HTML, JUnit XML and a Markdown summary.

Each reporter is a pure function of the evaluation data (summary dict plus the dataset,
results and scores files, streamed) to bytes; ``write_reports`` writes the requested formats
atomically into a directory and appends the Markdown summary to ``$GITHUB_STEP_SUMMARY``
when that variable is set (a summary file that cannot be written is a warning, never a failed
run).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.artifacts.workspace import (
    REPORT_HTML,
    REPORT_JSON,
    REPORT_JUNIT,
    REPORT_MD,
)
from chatbot_tester.errors import ConfigError

if TYPE_CHECKING:
    from chatbot_tester.evaluator.evaluate import Evaluation

__all__ = ["FORMATS", "append_step_summary", "render_report", "write_reports"]

log = logging.getLogger(__name__)

FORMATS: dict[str, str] = {
    "json": REPORT_JSON,
    "html": REPORT_HTML,
    "junit": REPORT_JUNIT,
    "md": REPORT_MD,
}
"""Report format -> file name in the output directory."""


def render_report(
    fmt: str, summary: dict[str, Any], dataset_path: Path, results_path: Path, scores_path: Path
) -> bytes:
    """The bytes of report ``fmt`` (one of ``FORMATS``)."""
    if fmt == "json":
        from chatbot_tester.evaluator.reports.json_report import render_json

        return render_json(summary)
    if fmt == "html":
        from chatbot_tester.evaluator.reports.html_report import render_html

        return render_html(summary, dataset_path, results_path, scores_path)
    if fmt == "junit":
        from chatbot_tester.evaluator.reports.junit import render_junit

        return render_junit(summary, scores_path)
    if fmt == "md":
        from chatbot_tester.evaluator.reports.markdown import render_markdown

        return render_markdown(summary, dataset_path, results_path, scores_path).encode("utf-8")
    raise ConfigError(f"unknown report format '{fmt}' (choose from: {', '.join(FORMATS)})")


def write_reports(
    evaluation: Evaluation,
    dataset_path: Path,
    results_path: Path,
    out_dir: Path,
    formats: Sequence[str],
    *,
    step_summary: bool = True,
) -> dict[str, Path]:
    """Write each format in ``formats`` atomically into ``out_dir``; returns format -> path.

    With ``step_summary`` and ``$GITHUB_STEP_SUMMARY`` set, the Markdown summary is also
    appended there (GitHub Actions shows it on the run page).
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown report format '{fmt}' (choose from: {', '.join(FORMATS)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for fmt in dict.fromkeys(formats):
        data = render_report(
            fmt, evaluation.summary, dataset_path, results_path, evaluation.scores_path
        )
        path = out_dir / FORMATS[fmt]
        atomic_write_bytes(path, data)
        paths[fmt] = path
        if fmt == "md" and step_summary:
            append_step_summary(data.decode("utf-8"))
    return paths


def append_step_summary(markdown: str) -> bool:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when set; True when it was written.

    The summary is a convenience: a path that cannot be written logs one warning and the run
    goes on (its reports and exit code do not depend on it).
    """
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    except OSError as exc:
        log.warning(
            "cannot append to $GITHUB_STEP_SUMMARY (%s): %s; summary skipped",
            target,
            exc.strerror or exc,
        )
        return False
    return True
