"""The generator stage: build a validated ``dataset.jsonl`` from files and/or an LLM.

Imported lazily so that ``import chatbot_tester.generator`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "SyntheticReport",
    "build_dataset",
    "dataset_fingerprint",
    "dataset_hash",
    "dataset_id_for",
    "generate_dataset",
    "generate_dataset_sync",
    "generate_synthetic",
    "load_samples",
    "load_synthetic_report",
    "read_source",
]

_LAZY: dict[str, str] = {
    "build_dataset": "chatbot_tester.generator.generate",
    "load_synthetic_report": "chatbot_tester.generator.generate",
    "dataset_fingerprint": "chatbot_tester.generator.generate",
    "dataset_hash": "chatbot_tester.generator.generate",
    "dataset_id_for": "chatbot_tester.generator.generate",
    "generate_dataset": "chatbot_tester.generator.generate",
    "generate_dataset_sync": "chatbot_tester.generator.generate",
    "load_samples": "chatbot_tester.generator.sources",
    "read_source": "chatbot_tester.generator.sources",
    "SyntheticReport": "chatbot_tester.generator.synthetic",
    "generate_synthetic": "chatbot_tester.generator.synthetic",
}

if TYPE_CHECKING:
    from chatbot_tester.generator.generate import (
        build_dataset,
        dataset_fingerprint,
        dataset_hash,
        dataset_id_for,
        generate_dataset,
        generate_dataset_sync,
        load_synthetic_report,
    )
    from chatbot_tester.generator.sources import load_samples, read_source
    from chatbot_tester.generator.synthetic import SyntheticReport, generate_synthetic


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chatbot_tester.generator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
