"""Small enums shared by the schemas (``ErrorKind`` is defined in ``errors``, a leaf module)."""

from __future__ import annotations

from enum import Enum

from chatbot_tester.errors import ErrorKind

__all__ = ["ErrorKind", "RunStatus"]


class RunStatus(str, Enum):
    """Lifecycle of a run, stored in the manifest."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"
