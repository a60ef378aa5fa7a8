"""A compact set of record keys for the Ray driver: 16 bytes a key instead of ~200.

The distributed driver must know, for every (sample id, repeat) of a run, whether it already
has a record (exactly once), and, while reading the dataset, whether a sample id was seen
before (duplicate ids are refused). A Python ``set`` of tuples costs ~200 bytes a key, so
~200 MB at a million samples. ``CompactKeys`` keeps a 128-bit digest of each key instead
(BLAKE2b, 120 bits plus a marker byte), in one sorted NumPy array plus a small set of recent
additions that is folded into the array every ``_FOLD`` additions (a linear merge). So a
million keys take ~16 MB and a lookup is one binary search.

Two different keys with the same digest would be taken for one; the odds are below 1e-24
for a billion keys, far below those of a disk error, so the exactly-once rule is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["CompactKeys", "key_digest"]

_FOLD = 1 << 15
"""Recent additions kept in a Python set before they are merged into the sorted array."""
_DTYPE = "S16"


def key_digest(sample_id: str, repeat: int = 0) -> bytes:
    """16 bytes standing for one (sample id, repeat).

    The last byte is a non-zero marker: NumPy's fixed-width bytes ignore trailing zero
    bytes, so a digest must never end with one.
    """
    text = f"{sample_id}\x1f{repeat}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=15).digest() + b"\x01"


class CompactKeys:
    """A set of (sample id, repeat) keys held as 16-byte digests (``in``, ``add``, ``len``)."""

    __slots__ = ("_recent", "_sorted")

    def __init__(self, keys: Iterable[tuple[str, int]] = ()) -> None:
        self._sorted: np.ndarray = np.empty(0, dtype=_DTYPE)
        self._recent: set[bytes] = set()
        for key in keys:
            self.add(key)

    def __len__(self) -> int:
        return int(self._sorted.size) + len(self._recent)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        return self._has(key_digest(str(key[0]), int(key[1])))

    def _has(self, digest: bytes) -> bool:
        if digest in self._recent:
            return True
        arr = self._sorted
        if not arr.size:
            return False
        i = int(arr.searchsorted(digest))
        return i < arr.size and bytes(arr[i]) == digest

    def add(self, key: tuple[str, int]) -> bool:
        """Add ``key``; ``False`` if it was already there."""
        return self.add_digest(key_digest(key[0], key[1]))

    def add_digest(self, digest: bytes) -> bool:
        """Add a key by its ``key_digest``; ``False`` if it was already there."""
        if self._has(digest):
            return False
        self._recent.add(digest)
        if len(self._recent) >= _FOLD:
            self._fold()
        return True

    def _fold(self) -> None:
        recent = np.fromiter(self._recent, dtype=_DTYPE, count=len(self._recent))
        recent.sort()
        merged = np.concatenate((self._sorted, recent))
        merged.sort(kind="stable")  # two sorted runs: a linear merge
        self._sorted = merged
        self._recent = set()

    def update(self, keys: Iterable[tuple[str, int]]) -> None:
        """Add every key of ``keys``."""
        for key in keys:
            self.add(key)

    @property
    def nbytes(self) -> int:
        """Approximate memory held (the array plus the recent set)."""
        return int(self._sorted.nbytes) + 100 * len(self._recent)
