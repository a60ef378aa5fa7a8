"""Near-duplicate removal: the later of two questions whose rapidfuzz ratio passes a cut-off.

Questions are compared lower-cased with punctuation and runs of spaces folded (a multi-turn
sample by its first turn). Items are visited in order, so the first of a group is kept and
the result does not depend on timing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["near_duplicates", "normalise_question"]

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalise_question(text: str) -> str:
    """The comparison key of a question."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def near_duplicates(questions: Sequence[str], threshold: float) -> dict[int, tuple[int, float]]:
    """``{index: (index of the earlier kept question, ratio)}`` for every near-duplicate."""
    from rapidfuzz import fuzz, process

    kept: list[str] = []
    kept_index: list[int] = []
    found: dict[int, tuple[int, float]] = {}
    for index, question in enumerate(questions):
        key = normalise_question(question)
        match = process.extractOne(key, kept, scorer=fuzz.ratio, score_cutoff=threshold)
        if match is not None:
            found[index] = (kept_index[match[2]], round(float(match[1]), 2))
            continue
        kept.append(key)
        kept_index.append(index)
    return found
