"""Small enums shared by the schemas and the error hierarchy (kept import-light)."""

from __future__ import annotations

from enum import Enum

__all__ = ["ErrorKind", "RunStatus"]


class ErrorKind(str, Enum):
    """Why a call or a sample failed; stored in ``RunRecord.error.kind``."""

    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    HTTP = "http"
    CONNECTION = "connection"
    BAD_RESPONSE = "bad_response"
    AUTH = "auth"
    CONFIG = "config"
    BUDGET = "budget"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


class RunStatus(str, Enum):
    """Lifecycle of a run, stored in the manifest."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"
