"""Which samples a run sends: ``--limit``, ``--sample``, ``--tags``, ``--filter-failing``, ...

A ``SampleSelection`` narrows the prepared dataset to a subset written beside it in
``<workspace>/datasets`` (named by the subset's hash, so the same selection is the same
file). The run's manifest records the selection, and ``from_run`` links a run made with
``--filter-failing`` or ``--retry-errors`` to the run it was taken from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.artifacts.jsonl import iter_jsonl, write_jsonl_atomic
from chatbot_tester.common.artifacts.run_files import iter_models
from chatbot_tester.common.artifacts.workspace import RESULTS, SCORES, Workspace
from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.errors import UsageError

if TYPE_CHECKING:
    from chatbot_tester.generator import PreparedDataset

__all__ = ["SampleSelection", "errored_ids", "failing_ids", "select_dataset"]


class SampleSelection(BaseModel):
    """The subset of the dataset one run sends; empty means every sample."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int | None = Field(default=None, ge=1)
    """Send at most this many samples (the first ones, in dataset order, after the filters)."""
    sample_ids: tuple[str, ...] = ()
    """Send only these sample ids."""
    tags: tuple[str, ...] = ()
    """Send only samples carrying at least one of these tags."""
    exclude_tags: tuple[str, ...] = ()
    """Leave out samples carrying any of these tags."""
    filter_failing: str | None = None
    """Run id (or ``latest``): send only the samples that failed a metric or errored there."""
    retry_errors: str | None = None
    """Run id (or ``latest``): send only the samples whose call errored there."""

    @property
    def empty(self) -> bool:
        """True when the selection keeps every sample."""
        return self == SampleSelection()

    def record(self, from_run: str | None) -> dict[str, Any]:
        """The selection as the manifest stores it (``from_run``: the linked run's id)."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        if from_run is not None:
            data["from_run"] = from_run
        return data


def failing_ids(run_dir: Path) -> set[str]:
    """Samples of a run that errored or have a failed (or errored) score."""
    ids = errored_ids(run_dir)
    for score in iter_models(run_dir / SCORES, Score):  # JSONL, or an archive's Parquet
        if score.passed is False or score.error is not None:
            ids.add(score.sample_id)
    return ids


def errored_ids(run_dir: Path) -> set[str]:
    """Samples of a run whose record is an error (first record per sample and repeat, as read)."""
    last: dict[tuple[str, int], bool] = {}
    for record in iter_models(run_dir / RESULTS, RunRecord):
        last.setdefault((record.sample_id, record.repeat), record.error is not None)
    return {sample_id for (sample_id, _), failed in last.items() if failed}


def _keep(sample: TestSample, sel: SampleSelection, only: set[str] | None) -> bool:
    if only is not None and sample.id not in only:
        return False
    if sel.tags and not set(sel.tags) & set(sample.tags):
        return False
    return not set(sel.exclude_tags) & set(sample.tags)


def _subset(
    samples: Iterable[TestSample], sel: SampleSelection, only: set[str] | None
) -> list[TestSample]:
    kept = [s for s in samples if _keep(s, sel, only)]
    return kept[: sel.limit] if sel.limit is not None else kept


def select_dataset(
    dataset: PreparedDataset, selection: SampleSelection, ws: Workspace
) -> tuple[PreparedDataset, dict[str, Any]]:
    """The subset of ``dataset`` that ``selection`` keeps, and the record for the manifest.

    ``UsageError`` for an unknown ``--sample`` id, a linked run that does not exist, or a
    selection that keeps nothing (nothing is written then).
    """
    from chatbot_tester.generator import dataset_hash

    only: set[str] | None = set(selection.sample_ids) if selection.sample_ids else None
    from_run = None
    if selection.filter_failing is not None and selection.retry_errors is not None:
        raise UsageError("--filter-failing and --retry-errors: pick one")
    linked = selection.filter_failing or selection.retry_errors
    if linked is not None:
        run = ws.open_run(linked)
        from_run = run.run_id
        ids = errored_ids(run.path) if selection.retry_errors else failing_ids(run.path)
        only = ids if only is None else only & ids
    samples = list(iter_jsonl(dataset.path, TestSample))
    known = [s.id for s in samples]
    for wanted in selection.sample_ids:
        if wanted not in known:
            raise UsageError(f"--sample {wanted}: no such sample ({did_you_mean(wanted, known)})")
    kept = _subset(samples, selection, only)
    if not kept:
        what = f"run {from_run} has none" if from_run else "check --sample/--tags/--exclude-tags"
        raise UsageError(f"the selection keeps no sample ({what})")
    digest = hashlib.sha256("\n".join(s.id for s in kept).encode()).hexdigest()[:12]
    path = dataset.path.with_name(f"{dataset.path.stem}.sel-{digest}.jsonl")
    write_jsonl_atomic(path, kept)
    info = dataset.info.model_copy(update={"hash": dataset_hash(path), "count": len(kept)})
    return replace(dataset, path=path, info=info), selection.record(from_run)
