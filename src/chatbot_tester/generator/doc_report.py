"""``DocumentsReport``: what a document generation planned, kept, dropped and why.

Written beside the dataset as ``<stem>.documents.json``. Nothing is dropped silently: every
ungrounded sample, near-duplicate and reply that stayed invalid is listed with its slot,
question type, chunks and reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.types import empty_dict, empty_list
from chatbot_tester.errors import DatasetError
from chatbot_tester.generator.input_checks import display_path

if TYPE_CHECKING:
    from chatbot_tester.common.events import EventBus

__all__ = [
    "DocumentsReport",
    "DroppedItem",
    "documents_report_path",
    "load_documents_report",
    "record_documents_report",
]


class DroppedItem(BaseModel):
    """One planned sample that is not in the dataset."""

    model_config = ConfigDict(extra="forbid")

    slot: int
    """Slot number (0-based, in plan order)."""
    question_type: str
    """The slot's question type."""
    chunks: list[str]
    """Ids of the slot's chunks."""
    reason: str
    """Why it was dropped."""
    question: str | None = None
    """Start of the question, when one was written."""
    answer: str | None = None
    """Start of the expected answer, when one was written."""
    score: float | None = None
    """Grounding overlap (or judge 1/0), or the duplicate's similarity (0-100)."""
    duplicate_of: int | None = None
    """For a near-duplicate: the slot that was kept."""


class DocumentsReport(BaseModel):
    """Counts and drops of one ``generator.documents`` step."""

    model_config = ConfigDict(extra="forbid")

    requested: int
    """Samples planned (``count``)."""
    produced: int = 0
    """Samples kept in the dataset."""
    documents: int = 0
    """Documents read (a .jsonl line counts as one)."""
    chunks: int = 0
    """Chunks cut from them."""
    seed: int = 0
    """The seed the plan was drawn with."""
    grounding: str = "overlap"
    """The grounding check used."""
    calls: int = 0
    """Backend calls made (question writing and grounding judge; cache hits included)."""
    cached: int = 0
    """Calls answered from the response cache."""
    planned_by_type: dict[str, int] = Field(default_factory=empty_dict)
    """Slots per question type."""
    by_type: dict[str, int] = Field(default_factory=empty_dict)
    """Kept samples per question type."""
    spent_usd: float = 0.0
    """Cost of the answered (not cached) calls, at the built-in prices (0 when unpriced)."""
    budget_reached: bool = False
    """``generator.max_cost_usd`` stopped the step before every slot was written."""
    error_slots: int = 0
    """Slots whose last call failed (server error, timeout); the dataset is then not stored."""
    ungrounded: list[DroppedItem] = Field(default_factory=empty_list)
    """Samples whose expected answer is not supported by their chunks."""
    duplicates: list[DroppedItem] = Field(default_factory=empty_list)
    """Near-duplicates of an earlier sample."""
    failed: list[DroppedItem] = Field(default_factory=empty_list)
    """Slots with no valid reply after ``max_attempts`` (or a failed call)."""

    @property
    def dropped(self) -> int:
        """Planned samples that are not in the dataset."""
        return len(self.ungrounded) + len(self.duplicates) + len(self.failed)

    def counts(self, out_path: Path) -> dict[str, object]:
        """The manifest's ``dataset.generation``: counts, and where the full list is."""
        return {
            "step": "documents",
            "report": documents_report_path(out_path).name,
            "requested": self.requested,
            "produced": self.produced,
            "ungrounded": len(self.ungrounded),
            "duplicates": len(self.duplicates),
            "failed": len(self.failed),
            "by_type": self.by_type,
        }

    def summary(self) -> str:
        """One phrase for the console: kept, and each kind of drop."""
        return (
            f"{self.produced} of {self.requested} samples kept ({len(self.ungrounded)} ungrounded, "
            f"{len(self.duplicates)} near-duplicate, {len(self.failed)} failed dropped)"
        )


def documents_report_path(out_path: Path) -> Path:
    """Where the report of the dataset ``out_path`` goes: ``<stem>.documents.json`` beside it."""
    return out_path.with_name(out_path.stem + ".documents.json")


def record_documents_report(report: DocumentsReport, out_path: Path, bus: EventBus | None) -> None:
    """Write the report beside ``out_path``; announce drops; raise if nothing may be stored.

    A failed call (server error, timeout) or an empty result stores no dataset, so the next
    run generates again (answered calls come from the cache); drops are a warning event.
    """
    path = documents_report_path(out_path)
    if report.budget_reached:
        atomic_write_bytes(
            path, orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
        )
        raise DatasetError(
            f"generator.max_cost_usd reached after ${report.spent_usd:.4f}: "
            f"{report.requested - len(report.failed)} of {report.requested} slots written, nothing "
            "stored; raise the limit and run again (answered calls are cached and cost nothing "
            f"again; details in {display_path(path)})"
        )
    atomic_write_bytes(
        path, orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
    )
    if report.produced == 0 or report.error_slots:
        what = (
            f"{report.error_slots} of {report.requested} slot(s) ended on a failed call"
            if report.error_slots
            else "no sample left"
        )
        raise DatasetError(
            f"generator.documents: {report.summary()}: {what}; fix the generator backend or the "
            f"documents and run again (answered calls are cached; details in {display_path(path)})"
        )
    if report.dropped and bus is not None:
        from chatbot_tester.common.events import Notice

        bus.emit(Notice("warning", f"document generation: {report.summary()}; see {path.name}"))


def load_documents_report(out_path: Path) -> DocumentsReport | None:
    """The report written beside the dataset ``out_path`` (None if there is none or it is bad)."""
    try:
        return DocumentsReport.model_validate_json(documents_report_path(out_path).read_bytes())
    except (OSError, ValidationError):
        return None
