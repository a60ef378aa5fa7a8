"""chatbot-tester: test chatbots and LLM applications before every release.

The public API is imported lazily so that ``import chatbot_tester`` (and the CLI's
``--help``) stays fast and imports no SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_tester._version import __version__
from chatbot_tester.common.lazy import lazy_exports

_ERRORS = (
    "AuthError",
    "BackendConnectionError",
    "BackendError",
    "BackendHTTPError",
    "BackendTimeout",
    "BadResponse",
    "ChatbotTesterError",
    "ConfigError",
    "DatasetError",
    "PluginError",
    "RateLimited",
    "ResumeError",
    "RunAborted",
    "UsageError",
)
_EVENTS = (
    "Event",
    "EventBus",
    "GenerationSkipped",
    "ItemFinished",
    "Notice",
    "RetryScheduled",
    "RunFinished",
    "RunStarted",
    "StageFinished",
    "StageStarted",
    "Subscriber",
)

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
    "PipelineConfig": "chatbot_tester.common.config",
    "load_pipeline": "chatbot_tester.common.yaml_loader",
    "Metric": "chatbot_tester.evaluator.metrics",
    "MetricInput": "chatbot_tester.evaluator.metrics",
    "MetricOptions": "chatbot_tester.evaluator.metrics",
    "register_metric": "chatbot_tester.evaluator.metrics",
    "PipelineInterrupted": "chatbot_tester.orchestrator",
    "PipelineResult": "chatbot_tester.orchestrator",
    "run_pipeline": "chatbot_tester.orchestrator",
    "run_pipeline_async": "chatbot_tester.orchestrator",
    "VariantsResult": "chatbot_tester.orchestrator.variants",
    "EvaluationResult": "chatbot_tester.orchestrator.in_memory_result",
    "SampleResult": "chatbot_tester.orchestrator.in_memory_result",
    "aevaluate": "chatbot_tester.orchestrator.in_memory",
    "assert_passes": "chatbot_tester.orchestrator.in_memory",
    "evaluate": "chatbot_tester.orchestrator.in_memory",
    **dict.fromkeys(_ERRORS, "chatbot_tester.errors"),
    **dict.fromkeys(_EVENTS, "chatbot_tester.common.events"),
}

__all__ = [
    "AuthError",
    "BackendConnectionError",
    "BackendError",
    "BackendHTTPError",
    "BackendOptions",
    "BackendTimeout",
    "BadResponse",
    "ChatBackend",
    "ChatRequest",
    "ChatResponse",
    "ChatbotTesterError",
    "ConfigError",
    "DatasetError",
    "EvaluationResult",
    "Event",
    "EventBus",
    "GenerationSkipped",
    "ItemFinished",
    "Metric",
    "MetricInput",
    "MetricOptions",
    "Notice",
    "PipelineConfig",
    "PipelineInterrupted",
    "PipelineResult",
    "PluginError",
    "RateLimited",
    "ResumeError",
    "RetryScheduled",
    "RunAborted",
    "RunFinished",
    "RunRecord",
    "RunStarted",
    "SampleResult",
    "Score",
    "StageFinished",
    "StageStarted",
    "Subscriber",
    "TestSample",
    "Usage",
    "UsageError",
    "VariantsResult",
    "__version__",
    "aevaluate",
    "assert_passes",
    "backend_registry",
    "evaluate",
    "load_pipeline",
    "register_backend",
    "register_metric",
    "run_pipeline",
    "run_pipeline_async",
]

if TYPE_CHECKING:
    from chatbot_tester.common.backends import (
        BackendOptions,
        ChatBackend,
        backend_registry,
        register_backend,
    )
    from chatbot_tester.common.config import PipelineConfig
    from chatbot_tester.common.events import (
        Event,
        EventBus,
        GenerationSkipped,
        ItemFinished,
        Notice,
        RetryScheduled,
        RunFinished,
        RunStarted,
        StageFinished,
        StageStarted,
        Subscriber,
    )
    from chatbot_tester.common.schemas import (
        ChatRequest,
        ChatResponse,
        RunRecord,
        Score,
        TestSample,
        Usage,
    )
    from chatbot_tester.common.yaml_loader import load_pipeline
    from chatbot_tester.errors import (
        AuthError,
        BackendConnectionError,
        BackendError,
        BackendHTTPError,
        BackendTimeout,
        BadResponse,
        ChatbotTesterError,
        ConfigError,
        DatasetError,
        PluginError,
        RateLimited,
        ResumeError,
        RunAborted,
        UsageError,
    )
    from chatbot_tester.evaluator.metrics import (
        Metric,
        MetricInput,
        MetricOptions,
        register_metric,
    )
    from chatbot_tester.orchestrator import (
        PipelineInterrupted,
        PipelineResult,
        run_pipeline,
        run_pipeline_async,
    )
    from chatbot_tester.orchestrator.in_memory import aevaluate, assert_passes, evaluate
    from chatbot_tester.orchestrator.in_memory_result import EvaluationResult, SampleResult
    from chatbot_tester.orchestrator.variants import VariantsResult

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
