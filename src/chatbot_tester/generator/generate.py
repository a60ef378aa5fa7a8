"""Build ``dataset.jsonl`` from a generator config.

In order: file samples, synthetic ones, grounded ones written from ``documents``, red-team
``packs`` (with their strategies), then the ``perturbations`` of all of them.

The dataset is written atomically (temp file + rename), so a crash never leaves half a
dataset. ``ensure_dataset`` reuses an identical dataset already built in the workspace (keyed
by ``dataset_fingerprint``); ``dataset_hash`` identifies the written content in manifests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from chatbot_tester.common.artifacts.jsonl import write_jsonl_atomic
from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.artifacts.workspace import validate_name
from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.common.schemas import DatasetInfo, TestSample
from chatbot_tester.errors import DatasetError
from chatbot_tester.generator.input_checks import check_regular_file
from chatbot_tester.generator.sources import (
    check_samples,
    display_path,
    load_samples,
    read_source,
)

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.events import EventBus
    from chatbot_tester.generator.synthetic import SyntheticReport

__all__ = [
    "GENERATOR_FORMAT",
    "PreparedDataset",
    "build_dataset",
    "dataset_fingerprint",
    "dataset_hash",
    "dataset_id_for",
    "ensure_dataset",
    "generate_dataset",
    "load_synthetic_report",
    "report_path_for",
]

GENERATOR_FORMAT = 1
"""Bumped when the same inputs would produce a different dataset (invalidates fingerprints)."""


def dataset_id_for(config: GeneratorConfig) -> str:
    """``dataset_id``, else the source file's stem, else ``synthetic``/``documents`` (validated)."""
    value = config.dataset_id or (config.source.stem if config.source else _generated_name(config))
    return validate_name(value, "generator.dataset_id")


def _resolve(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def _file_bytes(path: Path, what: str) -> bytes:
    if os.path.lexists(path):  # a FIFO or /dev/zero would hang or exhaust memory here
        check_regular_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {what}: {exc.strerror}", file=display_path(path)) from None


def dataset_fingerprint(config: GeneratorConfig, base_dir: Path) -> str:
    """``sha256:<hex>`` of the generator config and every input file's bytes.

    Equal fingerprints mean regenerating would give the same dataset (for synthetic data: the
    same requests), so the orchestrator can reuse the file it built before.
    """
    digest = hashlib.sha256()
    header = {"format": GENERATOR_FORMAT, "config": config.model_dump(mode="json")}
    digest.update(orjson.dumps(header, option=orjson.OPT_SORT_KEYS))
    if config.source is not None:
        digest.update(b"\x00source\x00")
        source = _resolve(config.source, base_dir)
        if source.is_dir():  # a saved Hugging Face dataset: every file, in name order
            for part in sorted(p for p in source.rglob("*") if p.is_file()):
                digest.update(part.relative_to(source).as_posix().encode() + b"\x00")
                digest.update(_file_bytes(part, "a dataset file"))
        else:
            digest.update(_file_bytes(source, "the source file"))
    if config.synthetic is not None:
        for doc in config.synthetic.documents:
            digest.update(b"\x00document\x00")
            digest.update(_file_bytes(_resolve(doc, base_dir), "a synthetic document"))
    if config.documents is not None:  # the files the globs match now, by name and content
        from chatbot_tester.generator.doc_readers import expand_files, source_name

        for path in expand_files(config.documents.files, base_dir):
            digest.update(b"\x00documents\x00" + source_name(path, base_dir).encode() + b"\x00")
            digest.update(_file_bytes(path, "a document"))
    return "sha256:" + digest.hexdigest()


def dataset_hash(path: Path) -> str:
    """``sha256:<hex>`` of a written dataset file (its canonical JSONL bytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def report_path_for(out_path: Path) -> Path:
    """Where the synthetic report of ``out_path`` goes: ``<stem>.synthetic.json`` beside it."""
    return out_path.with_name(out_path.stem + ".synthetic.json")


def _non_empty(samples: Iterable[TestSample], where: str) -> Iterator[TestSample]:
    count = 0
    for sample in samples:
        count += 1
        yield sample
    if not count:
        raise DatasetError("the dataset is empty: no samples were produced", file=where)


async def build_dataset(
    config: GeneratorConfig,
    *,
    base_dir: Path,
    out_path: Path,
    cache: ResponseCache | None = None,
    bus: EventBus | None = None,
) -> tuple[DatasetInfo, SyntheticReport | None]:
    """``generate_dataset`` that also returns the ``SyntheticReport`` (None without synthetic).

    Callers use the report to warn about a short generation (``report.missing > 0``): the
    dataset was written, but some batches still had invalid items after ``max_attempts``.
    """
    dataset_id = dataset_id_for(config)
    source_path = _resolve(config.source, base_dir) if config.source is not None else None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return await _build(config, base_dir, out_path, source_path, dataset_id, cache, bus)
    except BaseException:
        # Leave no empty folder behind: datasets/ and a workspace created for this run.
        with contextlib.suppress(OSError):
            out_path.parent.rmdir()
            out_path.parent.parent.rmdir()
        raise


async def _build(
    config: GeneratorConfig,
    base_dir: Path,
    out_path: Path,
    source_path: Path | None,
    dataset_id: str,
    cache: ResponseCache | None,
    bus: EventBus | None,
) -> tuple[DatasetInfo, SyntheticReport | None]:
    samples: Iterable[TestSample]
    report: SyntheticReport | None = None
    if config.synthetic is None and config.documents is None and not config.packs:
        samples = load_samples(config, base_dir)
    else:
        taken: set[str] = set()
        from_file: list[TestSample] = []
        if source_path is not None:
            items = read_source(source_path, format=config.format, columns=config.columns)
            from_file = list(check_samples(items, source_path, taken=taken))
        synthetic: list[TestSample] = []
        if config.synthetic is not None:
            from chatbot_tester.generator.synthetic import generate_synthetic

            synthetic, report = await generate_synthetic(
                config.synthetic,
                base_dir=base_dir,
                cache=cache if config.cache else None,
                bus=bus,
                taken=taken,
                max_cost_usd=config.max_cost_usd,
            )
            _record_report(report, out_path, bus)
        spent = report.spent_usd if report is not None else 0.0
        grounded = await _from_documents(
            config, base_dir, out_path, cache, bus, taken, synthetic, spent
        )
        attacks: list[TestSample] = []
        if config.packs:
            from chatbot_tester.generator.redteam import pack_samples

            attacks = pack_samples(config.packs, config.strategies)
            clash = {s.id for s in attacks} & {s.id for s in (*from_file, *synthetic, *grounded)}
            if clash:
                raise DatasetError(
                    f"sample id '{sorted(clash)[0]}' is both in the dataset and in a red-team "
                    "pack; rename the dataset's sample"
                )
        samples = [*from_file, *synthetic, *grounded, *attacks]
    where = display_path(source_path) if source_path is not None else _generated_name(config)
    if config.perturbations is not None:
        from chatbot_tester.generator.perturb import perturb_samples

        paraphrases = None
        if config.perturbations.paraphrase is not None:
            from chatbot_tester.generator.paraphrase import paraphrase_samples

            samples = list(samples)
            paraphrases = await paraphrase_samples(
                samples,
                config.perturbations,
                base_dir=base_dir,
                cache=cache if config.cache else None,
                bus=bus,
            )
        samples = perturb_samples(samples, config.perturbations, paraphrases)
    count = write_jsonl_atomic(out_path, _non_empty(samples, where))
    info = DatasetInfo(
        id=dataset_id,
        hash=dataset_hash(out_path),
        count=count,
        source=str(config.source) if config.source is not None else _generated_name(config),
        generation=_generation(config, out_path),
    )
    return info, report


def _generation(config: GeneratorConfig, out_path: Path) -> dict[str, object] | None:
    """The documents step's counts for the manifest (None without ``documents``)."""
    if config.documents is None:
        return None
    from chatbot_tester.generator.doc_report import load_documents_report

    report = load_documents_report(out_path)
    return report.counts(out_path) if report is not None else None


def _generated_name(config: GeneratorConfig) -> str:
    if config.synthetic is not None:
        return "synthetic"
    if config.documents is not None:
        return "documents"
    return "redteam" if config.packs else "synthetic"


async def _from_documents(
    config: GeneratorConfig,
    base_dir: Path,
    out_path: Path,
    cache: ResponseCache | None,
    bus: EventBus | None,
    taken: set[str],
    synthetic: list[TestSample],
    spent_usd: float,
) -> list[TestSample]:
    """The samples of ``generator.documents`` (none without it); writes their report.

    ``spent_usd`` (by ``synthetic``) comes off ``max_cost_usd``: the limit is the step's total.
    """
    if config.documents is None:
        return []
    from chatbot_tester.generator.doc_report import record_documents_report
    from chatbot_tester.generator.documents import generate_from_documents

    samples, report = await generate_from_documents(
        config.documents,
        base_dir=base_dir,
        cache=cache if config.cache else None,
        bus=bus,
        taken=taken | {s.id for s in synthetic},
        max_cost_usd=None if config.max_cost_usd is None else config.max_cost_usd - spent_usd,
    )
    record_documents_report(report, out_path, bus)
    return samples


async def generate_dataset(
    config: GeneratorConfig,
    *,
    base_dir: Path,
    out_path: Path,
    cache: ResponseCache | None = None,
    bus: EventBus | None = None,
) -> DatasetInfo:
    """Write the dataset described by ``config`` to ``out_path`` and describe it.

    File samples are streamed; synthetic samples (if configured) follow them, with ids kept
    unique, and a ``SyntheticReport`` is written beside the dataset (``report_path_for``).
    A synthetic generation that produced no sample, or whose batches ended on failed calls
    (server errors, timeouts), raises ``DatasetError`` and writes nothing at ``out_path``, so
    a failure is never stored and reused as the dataset. One that fell short only because
    the model kept returning invalid items is written (a rerun would replay the same cached
    replies), with a warning event; ``build_dataset`` returns the report for such callers.
    """
    info, _ = await build_dataset(
        config, base_dir=base_dir, out_path=out_path, cache=cache, bus=bus
    )
    return info


def load_synthetic_report(out_path: Path) -> SyntheticReport | None:
    """The ``SyntheticReport`` written beside the dataset ``out_path`` (None if there is none).

    Lets a caller that reuses an existing dataset repeat the short-generation warning.
    """
    path = report_path_for(out_path)
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    # Imported only when a report exists: the module (and its models) is ~10 ms of start-up.
    from chatbot_tester.generator.synthetic import SyntheticReport

    data.pop("missing", None)
    try:
        return SyntheticReport.model_validate(data)
    except ValueError:
        return None


def _record_report(report: SyntheticReport, out_path: Path, bus: EventBus | None) -> None:
    """Write the report beside ``out_path``; raise if the generation must not be stored."""
    path = report_path_for(out_path)
    data = report.model_dump(mode="json")
    data["missing"] = report.missing
    atomic_write_bytes(path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    if report.budget_reached:
        raise DatasetError(
            f"generator.max_cost_usd reached after ${report.spent_usd:.4f}: {report.produced} of "
            f"{report.requested} synthetic samples written, nothing stored; raise the limit and "
            f"run again (answered calls are cached; details in {display_path(path)})"
        )
    if report.produced == 0 or report.error_batches:
        what = (
            f"{report.error_batches} of {report.batches} batch(es) ended on a failed call"
            if report.produced
            else "no valid sample"
        )
        raise DatasetError(
            f"generator.synthetic: produced {report.produced} of {report.requested} samples "
            f"({what}: {report.reasons()}); fix the generator backend or instructions and run "
            f"again (successful calls are cached; every error is in {display_path(path)})"
        )
    if bus is not None:
        from chatbot_tester.common.events import Notice

        bus.emit(Notice("info", f"synthetic generation: {report.spend()} (apart from the bot)"))
    if report.missing and bus is not None:
        from chatbot_tester.common.events import Notice

        bus.emit(
            Notice(
                "warning",
                f"synthetic generation produced {report.produced} of {report.requested} samples "
                f"({report.invalid} invalid items); see {path.name}",
            )
        )


@dataclass(frozen=True)
class PreparedDataset:
    """A dataset ready in the workspace: where it is, what it holds, whether it was reused."""

    path: Path
    info: DatasetInfo
    reused: bool


async def ensure_dataset(
    config: GeneratorConfig,
    *,
    base_dir: Path,
    datasets_dir: Path,
    cache_root: Path | None,
    bus: EventBus,
) -> PreparedDataset:
    """Build the dataset into ``datasets_dir``, or reuse the identical one already there.

    The file name carries the fingerprint of every input, so an existing file is the same
    dataset. ``cache_root`` (a workspace) enables the response cache of synthetic generation.
    """
    from chatbot_tester.common.events import GenerationSkipped, Notice

    dataset_id = dataset_id_for(config)
    fingerprint = dataset_fingerprint(config, base_dir)
    datasets_dir.mkdir(parents=True, exist_ok=True)
    path = datasets_dir / f"{dataset_id}-{fingerprint.split(':')[-1][:16]}.jsonl"
    if path.exists():
        from chatbot_tester.common.artifacts.jsonl import iter_json_objects

        info = DatasetInfo(
            id=dataset_id,
            hash=dataset_hash(path),
            count=sum(1 for _ in iter_json_objects(path)),
            source=str(config.source) if config.source else _generated_name(config),
            generation=_generation(config, path),
        )
        bus.emit(GenerationSkipped(dataset_id, f"identical dataset already built: {path.name}"))
        if info.generation and (info.generation["ungrounded"] or info.generation["duplicates"]):
            bus.emit(
                Notice(
                    "warning",
                    f"the reused dataset dropped {info.generation['ungrounded']} ungrounded and "
                    f"{info.generation['duplicates']} near-duplicate samples; see "
                    f"{info.generation['report']}",
                )
            )
        report = load_synthetic_report(path)
        if report is not None and report.missing:
            bus.emit(
                Notice(
                    "warning",
                    f"the reused synthetic dataset has {report.produced} of {report.requested} "
                    "samples (the rest were invalid); change the generator config to regenerate",
                )
            )
        return PreparedDataset(path, info, reused=True)
    cache = None
    generated = config.synthetic is not None or config.documents is not None
    generated = generated or bool(config.perturbations and config.perturbations.paraphrase)
    if generated and config.cache and cache_root is not None:
        from chatbot_tester.common.artifacts.cache import open_cache

        cache = open_cache(cache_root)
    try:
        info = await generate_dataset(
            config, base_dir=base_dir, out_path=path, cache=cache, bus=bus
        )
    finally:
        if cache is not None:
            cache.close()
    return PreparedDataset(path, info, reused=False)
