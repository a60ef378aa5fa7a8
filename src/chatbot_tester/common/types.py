"""Small enums shared by the schemas (``ErrorKind`` is defined in ``errors``, a leaf module).

``empty_list`` and ``empty_dict`` are the models' ``default_factory`` for list and dict fields:
pydantic reads each factory's signature while building a model, and for the ``list`` and
``dict`` builtins that means tokenizing their text signatures (the first one compiles
``tokenize``'s regexes, ~1% of a short run); a Python function's signature is read directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from chatbot_tester.errors import ErrorKind

__all__ = ["Decision", "ErrorKind", "RetryDecision", "RunStatus", "empty_dict", "empty_list"]


def empty_list() -> list[Any]:
    """A new empty list (a model field's ``default_factory``)."""
    return []


def empty_dict() -> dict[str, Any]:
    """A new empty dict (a model field's ``default_factory``)."""
    return {}


Decision = Literal["retry", "rate_limited", "fatal"]
"""What to do after a failed attempt."""


class RunStatus(str, Enum):
    """Lifecycle of a run, stored in the manifest."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"


@dataclass(frozen=True)
class RetryDecision:
    """A backend's verdict on one failed attempt: how the call client should treat it."""

    decision: Decision
    """``retry`` (back off and try again), ``rate_limited`` (wait ``retry_after``), ``fatal``."""
    kind: ErrorKind
    """What to record if this ends the call."""
    message: str
    """One line, no secrets."""
    status_code: int | None = None
    """The HTTP status, when there was one."""
    retry_after: float | None = None
    """Seconds the server asked to wait before the next attempt."""
