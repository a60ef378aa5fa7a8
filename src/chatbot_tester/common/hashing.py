"""Content hashes used for datasets, configs, cache keys and resume checks."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["sha256_bytes", "stable_hash"]


def stable_hash(data: Any) -> str:
    """``sha256:<hex>`` of a JSON-serialisable value, independent of key order."""
    blob = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return sha256_bytes(blob)


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of raw bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
