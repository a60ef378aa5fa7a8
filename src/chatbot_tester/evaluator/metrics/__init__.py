"""Metrics: the protocol, the registry and the built-ins (registered lazily)."""

from __future__ import annotations

from chatbot_tester.evaluator.metrics.base import (
    Metric,
    MetricContext,
    MetricInput,
    MetricOptions,
)
from chatbot_tester.evaluator.metrics.registry import metric_registry, register_metric

__all__ = [
    "Metric",
    "MetricContext",
    "MetricInput",
    "MetricOptions",
    "metric_registry",
    "register_metric",
]

# Built-in metrics are registered lazily by name in chatbot_tester.evaluator.metrics.builtins.
from chatbot_tester.evaluator.metrics import builtins as _builtins

_builtins.register_all(metric_registry)
