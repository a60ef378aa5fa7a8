"""Public helpers for testing chatbots and pipelines offline.

``EchoBackend`` and ``ScriptedBackend`` are deterministic chat backends (scripted replies,
simulated faults); ``FunctionBackend`` answers with your own function, ``ManualClock`` makes
latencies exact and ``metric_input`` builds a metric's input; ``FaultServer`` is an OpenAI-compatible server on 127.0.0.1 that injects
faults according to a ``FaultPlan``. Everything is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_tester.common.lazy import lazy_exports

__all__ = [
    "EchoBackend",
    "FaultPlan",
    "FaultServer",
    "FunctionBackend",
    "ManualClock",
    "ScriptedBackend",
    "metric_input",
]

_LAZY: dict[str, str] = {
    "EchoBackend": "chatbot_tester.common.backends.scripted",
    "ScriptedBackend": "chatbot_tester.common.backends.scripted",
    "FaultServer": "chatbot_tester.testing.server",
    "FaultPlan": "chatbot_tester.testing.server",
    "FunctionBackend": "chatbot_tester.testing.doubles",
    "ManualClock": "chatbot_tester.testing.doubles",
    "metric_input": "chatbot_tester.evaluator.metrics.input_builder",
}

if TYPE_CHECKING:
    from chatbot_tester.common.backends.scripted import EchoBackend, ScriptedBackend
    from chatbot_tester.testing.doubles import FunctionBackend, ManualClock
    from chatbot_tester.testing.server import FaultPlan, FaultServer

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
