"""Chatbot doubles for the repeat tests (imported by the ``python`` backend by module path)."""

from __future__ import annotations

import threading
from collections import Counter

_calls: Counter[str] = Counter()
_lock = threading.Lock()


def alternating_bot(prompt: str) -> str:
    """Right on the 1st and 3rd call of each prompt, wrong on the 2nd: every sample is flaky."""
    with _lock:
        _calls[prompt] += 1
        n = _calls[prompt]
    return prompt if n % 2 == 1 else "wrong"


def steady_bot(prompt: str) -> str:
    """Always the same answer: right for even question numbers, wrong for odd ones."""
    number = int(prompt.rsplit(" ", 1)[-1])
    return prompt if number % 2 == 0 else "wrong"
