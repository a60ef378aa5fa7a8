"""Backward-compatible path: the backend API now lives in ``chatbot_tester.common.backends``."""

from __future__ import annotations

from chatbot_tester.common.backends import (
    BackendOptions,
    BackendRegistry,
    ChatBackend,
    ErrorClass,
    RetryDecision,
    backend_registry,
    register_backend,
)

__all__ = [
    "BackendOptions",
    "BackendRegistry",
    "ChatBackend",
    "ErrorClass",
    "RetryDecision",
    "backend_registry",
    "register_backend",
]
