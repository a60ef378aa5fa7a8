"""Where reports go: one atomically written file per format, and ``$GITHUB_STEP_SUMMARY``.

The evaluator produces rows and the ``EvalReport``; the reporters turn them into bytes; this
module owns the files. ``ReportFiles`` opens a temporary file per requested format next to
its final name, feeds every reporter each row as the evaluation yields it, and on
``finish(report)`` completes them and renames them into place; if anything fails before,
no report file is half-written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from chatbot_tester.common.artifacts.storage import atomic_open
from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.report_model import EvalReport
from chatbot_tester.evaluator.reports import Reporter, Row, append_step_summary, reporter_registry

__all__ = ["ReportFiles", "reporter_classes"]


def reporter_classes(formats: Sequence[str]) -> dict[str, type[Reporter]]:
    """Format name -> reporter class, each once; ConfigError naming an unknown format."""
    classes: dict[str, type[Reporter]] = {}
    for fmt in dict.fromkeys(formats):
        if fmt not in reporter_registry:
            raise ConfigError(
                f"unknown report format '{fmt}' in evaluator.report.formats: "
                + did_you_mean(fmt, reporter_registry.names())
            )
        classes[fmt] = reporter_registry.get(fmt)
    return classes


class ReportFiles:
    """The report files of one evaluation, written while its rows go by (a context manager)."""

    def __init__(
        self,
        out_dir: Path,
        formats: Sequence[str],
        *,
        baseline: EvalReport | None = None,
        step_summary: bool = True,
    ) -> None:
        self.out_dir = out_dir
        self.classes = reporter_classes(formats)
        self.baseline = baseline
        self.step_summary = step_summary
        self.paths: dict[str, Path] = {}
        """Format -> path, filled once the files are in place."""
        self._stack = contextlib.ExitStack()
        self._reporters: dict[str, Reporter] = {}
        self._files: dict[str, IO[bytes]] = {}
        self._finished = False

    def __enter__(self) -> ReportFiles:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for fmt, cls in self.classes.items():
            fh = self._stack.enter_context(atomic_open(self.out_dir / cls.file_name, fsync=False))
            self._files[fmt] = fh
            reporter = self._reporters[fmt] = cls(fh, baseline=self.baseline)
            self._stack.callback(reporter.close)
        return self

    def add(self, row: Row) -> None:
        """Give ``row`` to every reporter."""
        for reporter in self._reporters.values():
            reporter.add(row)

    def finish(self, report: EvalReport) -> dict[str, Path]:
        """Complete every report with ``report`` and move the files into place."""
        for reporter in self._reporters.values():
            reporter.finish(report)
        self._stack.close()
        self._finished = True
        self.paths = {fmt: self.out_dir / cls.file_name for fmt, cls in self.classes.items()}
        md = self.paths.get("md")
        if md is not None and self.step_summary:
            append_step_summary(md.read_text("utf-8"))
        return self.paths

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Not finished: the temporary files are removed (atomic_open's cleanup on an error).
        if exc is None and not self._finished:
            exc = RuntimeError("ReportFiles closed before finish()")
            exc_type = RuntimeError
        self._stack.__exit__(exc_type, exc, tb)
