"""The generator stage: build a validated ``dataset.jsonl`` from files, LLMs, documents, packs.

Imported lazily so that ``import chatbot_tester.generator`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_tester.common.lazy import lazy_exports

__all__ = [
    "DocumentsReport",
    "PreparedDataset",
    "SyntheticReport",
    "available_packs",
    "build_dataset",
    "dataset_fingerprint",
    "dataset_hash",
    "dataset_id_for",
    "ensure_dataset",
    "generate_dataset",
    "generate_from_documents",
    "generate_synthetic",
    "load_samples",
    "load_synthetic_report",
    "pack_samples",
    "perturb_samples",
    "read_source",
]

_LAZY: dict[str, str] = {
    "build_dataset": "chatbot_tester.generator.generate",
    "load_synthetic_report": "chatbot_tester.generator.generate",
    "dataset_fingerprint": "chatbot_tester.generator.generate",
    "dataset_hash": "chatbot_tester.generator.generate",
    "dataset_id_for": "chatbot_tester.generator.generate",
    "generate_dataset": "chatbot_tester.generator.generate",
    "ensure_dataset": "chatbot_tester.generator.generate",
    "PreparedDataset": "chatbot_tester.generator.generate",
    "load_samples": "chatbot_tester.generator.sources",
    "read_source": "chatbot_tester.generator.sources",
    "SyntheticReport": "chatbot_tester.generator.synthetic",
    "generate_synthetic": "chatbot_tester.generator.synthetic",
    "DocumentsReport": "chatbot_tester.generator.doc_report",
    "generate_from_documents": "chatbot_tester.generator.documents",
    "available_packs": "chatbot_tester.generator.redteam",
    "pack_samples": "chatbot_tester.generator.redteam",
    "perturb_samples": "chatbot_tester.generator.perturb",
}

if TYPE_CHECKING:
    from chatbot_tester.generator.doc_report import DocumentsReport
    from chatbot_tester.generator.documents import generate_from_documents
    from chatbot_tester.generator.generate import (
        PreparedDataset,
        build_dataset,
        dataset_fingerprint,
        dataset_hash,
        dataset_id_for,
        ensure_dataset,
        generate_dataset,
        load_synthetic_report,
    )
    from chatbot_tester.generator.perturb import perturb_samples
    from chatbot_tester.generator.redteam import available_packs, pack_samples
    from chatbot_tester.generator.sources import load_samples, read_source
    from chatbot_tester.generator.synthetic import SyntheticReport, generate_synthetic

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
