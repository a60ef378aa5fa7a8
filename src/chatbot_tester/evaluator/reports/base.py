"""The reporter protocol and registry: a report is fed the evaluation's rows once, then its verdict.

One ``Row`` is one run record joined with its sample and its scores (or a dataset sample that
has no record). The evaluator produces the rows once, as records finish scoring, and every
requested reporter sees each row as it goes by: nothing re-reads the dataset, results or
scores, and nothing keeps the rows. A ``Reporter`` is created per output with the binary
stream it writes to (the orchestrator owns the file, its atomic rename and
``$GITHUB_STEP_SUMMARY``), gets ``add(row)`` for every row, in no particular order, and
``finish(report)`` with the ``EvalReport`` (gates and the run's decision included) last.

Third-party reporters subclass ``Reporter`` and register under the entry-point group
``chatbot_tester.reporters`` (``name = "package.module:Class"``), or with
``@register_reporter("name")``; ``report.formats`` accepts any registered name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, ClassVar, NamedTuple, cast

from chatbot_tester.common.registry import Registry
from chatbot_tester.common.registry import reporter_registry as _registry
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.evaluator.report_model import EvalReport

__all__ = ["Reporter", "Row", "register_reporter", "reporter_registry"]


class Row(NamedTuple):
    """One record with its sample and scores, or a sample that has no record."""

    sample: TestSample
    """The dataset sample."""
    record: RunRecord | None
    """Its run record (``None``: the sample was never run)."""
    scores: list[Score]
    """The current scores of the record: whole-sample first, then per turn, in metric order."""
    position: int
    """The sample's position in the dataset (rows arrive in completion order)."""


class Reporter:
    """One output format, written incrementally to ``out``.

    Subclasses set ``file_name`` and override ``finish`` (and ``add`` when they show samples).
    Memory must not grow with the number of rows: write as you go, or keep a bounded digest.
    """

    file_name: ClassVar[str] = ""
    """The file written in the run directory (e.g. ``report.html``)."""

    def __init__(self, out: IO[bytes], *, baseline: EvalReport | None = None) -> None:
        self.out = out
        self.baseline = baseline
        """The baseline run's report, when the pipeline compares with one."""

    def add(self, row: Row) -> None:
        """Take one row (default: ignore it)."""

    def finish(self, report: EvalReport) -> None:
        """Write what is left, knowing the whole evaluation."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the reporter holds (temporary files); called after finish or on failure."""


reporter_registry = cast("Registry[type[Reporter]]", _registry)
"""The one reporter registry (``common.registry.reporter_registry``), typed for reporters."""


def register_reporter(name: str) -> Callable[[type[Reporter]], type[Reporter]]:
    """Decorator registering a ``Reporter`` subclass under ``name``."""

    def deco(cls: type[Reporter]) -> type[Reporter]:
        if not (isinstance(cls, type) and issubclass(cls, Reporter)):
            raise TypeError(f"@register_reporter needs a Reporter subclass, got {cls!r}")
        reporter_registry.register(name, cls)
        return cls

    return deco
