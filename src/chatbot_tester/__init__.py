"""chatbot-tester: test chatbots and LLM applications before every release.

The public API is imported lazily so that ``import chatbot_tester`` (and the CLI's
``--help``) stays fast and imports no SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BackendOptions",
    "ChatBackend",
    "ChatRequest",
    "ChatResponse",
    "ChatbotTesterError",
    "PipelineConfig",
    "PipelineResult",
    "RunRecord",
    "Score",
    "TestSample",
    "Usage",
    "__version__",
    "backend_registry",
    "load_pipeline",
    "register_backend",
    "register_metric",
    "run_pipeline",
]

_LAZY: dict[str, str] = {
    "BackendOptions": "chatbot_tester.common.backends",
    "ChatBackend": "chatbot_tester.common.backends",
    "backend_registry": "chatbot_tester.common.backends",
    "register_backend": "chatbot_tester.common.backends",
    "ChatRequest": "chatbot_tester.common.schemas",
    "ChatResponse": "chatbot_tester.common.schemas",
    "RunRecord": "chatbot_tester.common.schemas",
    "Score": "chatbot_tester.common.schemas",
    "TestSample": "chatbot_tester.common.schemas",
    "Usage": "chatbot_tester.common.schemas",
    "ChatbotTesterError": "chatbot_tester.errors",
    "PipelineConfig": "chatbot_tester.common.config",
    "load_pipeline": "chatbot_tester.common.yaml_loader",
    "register_metric": "chatbot_tester.evaluator.metrics",
    "run_pipeline": "chatbot_tester.orchestrator",
    "PipelineResult": "chatbot_tester.orchestrator",
}

if TYPE_CHECKING:
    from chatbot_tester.common.backends import (
        BackendOptions,
        ChatBackend,
        backend_registry,
        register_backend,
    )
    from chatbot_tester.common.config import PipelineConfig
    from chatbot_tester.common.schemas import (
        ChatRequest,
        ChatResponse,
        RunRecord,
        Score,
        TestSample,
        Usage,
    )
    from chatbot_tester.common.yaml_loader import load_pipeline
    from chatbot_tester.errors import ChatbotTesterError
    from chatbot_tester.evaluator.metrics import register_metric
    from chatbot_tester.orchestrator import PipelineResult, run_pipeline


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chatbot_tester' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
