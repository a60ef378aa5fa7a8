"""The metric registry: built-ins, ``@register_metric`` classes or functions, entry points.

Kept apart from ``base`` so that the Metric protocol imports no implementation (a function
metric is wrapped by ``custom``, which itself builds on ``base``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from chatbot_tester.common.registry import Registry
from chatbot_tester.common.validation import format_validation_error
from chatbot_tester.errors import ConfigError, PluginError
from chatbot_tester.evaluator.metrics.base import Metric, MetricContext
from chatbot_tester.evaluator.metrics.custom import function_metric_class

__all__ = ["MetricRegistry", "metric_registry", "register_metric"]


MetricFunction = Callable[..., Any]


def _validate_metric(name: str, obj: object) -> type[Metric]:
    if isinstance(obj, type) and issubclass(obj, Metric):
        return obj
    if callable(obj):
        return _wrap_function(name, obj)
    raise PluginError(f"metric '{name}' is neither a Metric subclass nor a function: {obj!r}")


def _wrap_function(name: str, func: MetricFunction) -> type[Metric]:
    """Turn ``func(sample, record)`` into a Metric class (see ``evaluator.metrics.custom``)."""
    return function_metric_class(name, func)


class MetricRegistry(Registry[type[Metric]]):
    """Registry of metric classes; ``create`` validates options."""

    def __init__(self) -> None:
        super().__init__("metric", "chatbot_tester.metrics", validate=_validate_metric)

    def create(
        self, type_: str, options: dict[str, Any], *, name: str | None, context: MetricContext
    ) -> Metric:
        """Create metric ``type_`` with its options validated (ConfigError on bad options)."""
        cls = self.get(type_)
        try:
            opts = cls.Options.model_validate(options)
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(exc, cls.Options, f"metric '{name or type_}'")
            ) from None
        return cls(opts, name=name or type_, context=context)


metric_registry = MetricRegistry()
"""The one metric registry (built-ins, ``@register_metric`` and entry points)."""


def register_metric(name: str) -> Callable[[Any], Any]:
    """Decorator for a Metric subclass or a function ``f(sample, record)``."""

    def deco(obj: Any) -> Any:
        metric_registry.register(name, _validate_metric(name, obj))
        return obj

    return deco
