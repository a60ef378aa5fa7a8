"""Public helpers for testing chatbots and pipelines offline.

``EchoBackend`` and ``ScriptedBackend`` are deterministic chat backends (scripted replies,
simulated faults); ``FaultServer`` is an OpenAI-compatible server on 127.0.0.1 that injects
faults according to a ``FaultPlan``. Everything is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["EchoBackend", "FaultPlan", "FaultServer", "ScriptedBackend"]

_LAZY: dict[str, str] = {
    "EchoBackend": "chatbot_tester.common.backends.scripted",
    "ScriptedBackend": "chatbot_tester.common.backends.scripted",
    "FaultServer": "chatbot_tester.testing.server",
    "FaultPlan": "chatbot_tester.testing.server",
}

if TYPE_CHECKING:
    from chatbot_tester.common.backends.scripted import EchoBackend, ScriptedBackend
    from chatbot_tester.testing.server import FaultPlan, FaultServer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chatbot_tester.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
