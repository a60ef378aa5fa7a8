"""One error hierarchy for the whole package.

User mistakes (bad config, bad dataset, bad CLI usage) are printed as one line without a
traceback and exit with code 2; backend faults are classified and recorded per sample.

    ChatbotTesterError
    ├── UsageError            bad command-line usage                      (exit 2)
    ├── ConfigError           bad pipeline/backend/metric configuration   (exit 2)
    │   └── DatasetError      bad dataset file or row                      (exit 2)
    ├── PluginError           a backend/metric cannot be found or loaded   (exit 2)
    ├── ResumeError           a run cannot be resumed as asked             (exit 2)
    ├── RunAborted            every first request failed on auth/config     (exit 2)
    ├── ExecutorError         a distributed run gave up (workers kept dying) (exit 1)
    └── BackendError          one failed call to a backend (kind, status, retry-after)
        ├── BackendTimeout
        ├── BackendConnectionError
        ├── BackendHTTPError
        │   ├── AuthError
        │   └── RateLimited
        ├── BadResponse
        └── ResponseTooLarge  the body passed runner.max_response_bytes (not retried)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from pathlib import Path

__all__ = [
    "AuthError",
    "BackendConnectionError",
    "BackendError",
    "BackendHTTPError",
    "BackendTimeout",
    "BadResponse",
    "ChatbotTesterError",
    "ConfigError",
    "DatasetError",
    "ErrorKind",
    "ExecutorError",
    "PluginError",
    "RateLimited",
    "ResponseTooLarge",
    "ResumeError",
    "RunAborted",
    "UsageError",
    "sole_error",
]


class ErrorKind(str, Enum):
    """Why a call or a sample failed; stored in ``RunRecord.error.kind``."""

    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    HTTP = "http"
    CONNECTION = "connection"
    TRUNCATED_STREAM = "truncated_stream"
    RESPONSE_TOO_LARGE = "response_too_large"
    BAD_RESPONSE = "bad_response"
    AUTH = "auth"
    CONFIG = "config"
    BUDGET = "budget"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


class ChatbotTesterError(Exception):
    """Base class of every error chatbot-tester raises on purpose."""

    exit_code: int = 2


class UsageError(ChatbotTesterError):
    """The command line was used wrongly."""


class ConfigError(ChatbotTesterError):
    """A configuration value is invalid; the message names the place and the fix.

    ``location`` is rendered in front of the message as ``file:line:col`` (or ``file:line``,
    or ``file``), so every config error reads as one self-contained line.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.col = col
        super().__init__(self.__str__())

    @property
    def location(self) -> str | None:
        """``file:line:col`` as far as known, else ``None``."""
        if self.file is None:
            return None
        loc = self.file
        if self.line is not None:
            loc += f":{self.line}"
            if self.col is not None:
                loc += f":{self.col}"
        return loc

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.message}" if loc else self.message


class DatasetError(ConfigError):
    """A dataset file, row or line is invalid."""


class PluginError(ChatbotTesterError):
    """A backend, metric or other plugin is unknown or failed to load."""


class ResumeError(ChatbotTesterError):
    """A run cannot be resumed (unknown id, changed dataset or backend without --force)."""


class RunAborted(ChatbotTesterError):
    """The run was stopped early for a reason that affects every sample (e.g. bad API key).

    Such a reason is a configuration problem, so it exits 2 like other config errors.
    """


class ExecutorError(ChatbotTesterError):
    """A distributed run could not go on (a shard's workers kept dying); the run is resumable."""

    exit_code = 1


class BackendError(ChatbotTesterError):
    """One call to a backend failed.

    Backends raise these (or let SDK errors through for their ``classify`` hook to map);
    the runner records them per sample and never lets them crash a run.
    """

    kind: ErrorKind = ErrorKind.INTERNAL
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        kind: ErrorKind | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        if kind is not None:
            self.kind = kind
        if retryable is not None:
            self.retryable = retryable


class BackendTimeout(BackendError):
    """The attempt exceeded its wall-clock limit."""

    kind = ErrorKind.TIMEOUT
    retryable = True


class BackendConnectionError(BackendError):
    """The connection failed or was reset."""

    kind = ErrorKind.CONNECTION
    retryable = True


class BackendHTTPError(BackendError):
    """The server answered with an HTTP error status."""

    kind = ErrorKind.HTTP


class AuthError(BackendHTTPError):
    """The server rejected the credentials (401/403)."""

    kind = ErrorKind.AUTH
    retryable = False


class RateLimited(BackendHTTPError):
    """The server asked us to slow down (429); ``retry_after`` in seconds when it said."""

    kind = ErrorKind.RATE_LIMITED
    retryable = True


class BadResponse(BackendError):
    """The server answered 200 but the body is not a usable answer (error body, bad JSON, HTML)."""

    kind = ErrorKind.BAD_RESPONSE
    retryable = True


class ResponseTooLarge(BackendError):
    """The response body passed the per-call size limit (``runner.max_response_bytes``).

    Not retried: the same request would most likely get the same oversized answer.
    """

    kind = ErrorKind.RESPONSE_TOO_LARGE
    retryable = False


def sole_error(exc: BaseException) -> BaseException:
    """The one error inside (nested) task-group exception groups, else ``exc`` itself.

    A full disk inside a task group arrives as a group of one ``OSError``; it is reported as
    that error (its file and reason), not as an internal error.
    """
    while "ExceptionGroup" in type(exc).__name__:  # built in from 3.11, a backport on 3.10
        inner: Sequence[BaseException] = getattr(exc, "exceptions", ())
        if len(inner) != 1:
            break
        exc = inner[0]
    return exc
