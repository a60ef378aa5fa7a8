"""Custom metrics from plain Python functions, and the ``python`` metric type.

A function is either ``f(sample, record, **kwargs)`` or, when its single parameter is
annotated ``MetricInput`` (or named ``item``), ``f(item, **kwargs)``; it may be sync or async
and return a float, a bool, a ``Score`` or a dict with ``value``/``passed``/``reason``/
``error``/``details``. ``function_metric_class`` turns it into a Metric class; ``@register_metric``
and the ``chatbot_tester.metrics`` entry points use it for functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import math
import sys
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from chatbot_tester.common.registry import import_object
from chatbot_tester.common.schemas import Score
from chatbot_tester.common.types import empty_dict
from chatbot_tester.errors import ChatbotTesterError, ConfigError
from chatbot_tester.evaluator.metrics.base import Metric, MetricContext, MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.helpers import answer_error_kind

__all__ = ["FunctionOptions", "PythonMetric", "function_metric_class", "load_function", "to_score"]

CallStyle = Literal["item", "pair"]
_DICT_KEYS = frozenset({"value", "passed", "reason", "error", "details"})


class FunctionOptions(MetricOptions):
    """Options of metrics made from functions."""

    kwargs: dict[str, Any] = Field(default_factory=empty_dict)
    """Keyword arguments passed to the function."""
    score_errors: bool = False
    """Also call the function for error records (default: they get an error Score)."""


def call_style(func: Callable[..., Any]) -> CallStyle:
    """``item`` for ``f(item: MetricInput)``, else ``pair`` (``f(sample, record)``)."""
    try:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        return "pair"
    if len(params) != 1:
        return "pair"
    param = params[0]
    annotation: Any = param.annotation
    with contextlib.suppress(Exception):  # unresolvable forward refs: keep the raw annotation
        annotation = typing.get_type_hints(func).get(param.name, annotation)
    if annotation is MetricInput or (
        isinstance(annotation, str) and annotation.endswith("MetricInput")
    ):
        return "item"
    return "item" if param.name == "item" else "pair"


def to_score(metric: Metric, item: MetricInput, result: Any) -> Score:
    """Normalise a function's return value to a Score for ``item``."""
    if isinstance(result, Score):
        update = {
            "sample_id": item.record.sample_id,
            "repeat": item.record.repeat,
            "turn": item.turn,
            "metric": metric.name,
        }
        score = result.model_copy(update=update)
        if score.passed is None and score.value is not None and score.error is None:
            return metric.make(item, score.value, reason=score.reason, details=score.details)
        return score
    if isinstance(result, bool):
        return metric.make(item, 1.0 if result else 0.0, result)
    if isinstance(result, (int, float)):
        value = float(result)
        if math.isnan(value):
            return metric.make(item, error="function returned NaN")
        return metric.make(item, value)
    if isinstance(result, dict):
        unknown = set(result) - _DICT_KEYS
        if unknown:
            return metric.make(
                item,
                error=f"function returned unknown key(s) {sorted(unknown)}; use {sorted(_DICT_KEYS)}",
            )
        raw_value: Any = result.get("value")
        passed: Any = result.get("passed")
        if isinstance(raw_value, bool):
            passed = raw_value if passed is None else passed
        return metric.make(
            item,
            None if raw_value is None else float(raw_value),
            None if passed is None else bool(passed),
            reason=result.get("reason"),
            error=result.get("error"),
            details=result.get("details"),
        )
    what = "None" if result is None else type(result).__name__
    return metric.make(item, error=f"function returned {what}; return a float, bool, Score or dict")


def _first_doc_line(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    ref = f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', '?')}"
    return line or f"custom function {ref}"


def function_metric_class(name: str, func: Callable[..., Any]) -> type[Metric]:
    """A Metric class calling ``func`` (see the module docstring for the accepted shapes)."""
    style = call_style(func)

    class FunctionMetric(Metric[FunctionOptions]):
        Options: ClassVar[type[MetricOptions]] = FunctionOptions
        description: ClassVar[str] = _first_doc_line(func)
        per_turn: ClassVar[bool] = style == "item"
        function: ClassVar[Callable[..., Any]] = staticmethod(func)

        def score(self, item: MetricInput) -> Score | Awaitable[Score]:
            """Call the function and normalise its result."""
            opts = self.options
            if item.output is None and not opts.score_errors:
                return self.make(item, error=f"no answer: {answer_error_kind(item)}")
            fn = type(self).function
            if style == "item":
                result = fn(item, **opts.kwargs)
            else:
                result = fn(item.sample, item.record, **opts.kwargs)
            if inspect.isawaitable(result):
                return self._finish(item, result)
            return to_score(self, item, result)

        async def _finish(self, item: MetricInput, pending: Awaitable[Any]) -> Score:
            return to_score(self, item, await pending)

    FunctionMetric.__name__ = FunctionMetric.__qualname__ = f"FunctionMetric_{name}"
    FunctionMetric.__doc__ = f"Metric '{name}' computed by {_first_doc_line(func)!r}."
    return FunctionMetric


def load_function(ref: str, base_dir: Path) -> Callable[..., Any]:
    """Import ``package.module:func`` or ``path/to/file.py:func`` (relative to ``base_dir``)."""
    module_part, sep, attr = ref.rpartition(":")
    if not sep or not module_part or not attr:
        raise ConfigError(
            f"function '{ref}': expected 'package.module:function' or 'file.py:function'"
        )
    if module_part.endswith(".py"):
        path = Path(module_part)
        if not path.is_absolute():
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"function '{ref}': file not found", file=path)
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        mod_name = f"chatbot_tester_user_{path.stem}_{digest}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"function '{ref}': cannot import the file", file=path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise ConfigError(
                    f"function '{ref}': import failed: {type(exc).__name__}: {exc}", file=path
                ) from None
        obj: object = getattr(module, attr, None)
        if obj is None:
            raise ConfigError(f"function '{ref}': the file has no '{attr}'", file=path)
    else:
        try:
            obj = import_object(ref, what="function")
        except ChatbotTesterError as exc:
            raise ConfigError(str(exc)) from None
    if not callable(obj):
        raise ConfigError(f"function '{ref}' is not callable")
    return obj


class PythonOptions(FunctionOptions):
    """Options of the ``python`` metric."""

    function: str
    """The function: ``package.module:func`` or ``path/to/file.py:func`` (relative to the pipeline)."""


class PythonMetric(Metric[PythonOptions]):
    """Delegates to a user function named in the options (``function: "module:func"``)."""

    Options = PythonOptions
    per_turn = False  # f(sample, record) cannot tell turns apart; use it in a turn's assertions
    description = "Custom Python function 'module:func' or 'file.py:func' returning float, bool, dict or Score."

    def __init__(self, options: PythonOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        try:
            func = load_function(options.function, context.base_dir)
        except ConfigError as exc:
            raise ConfigError(f"metric '{name}': {exc.message}", file=exc.file) from None
        cls = function_metric_class(name, func)
        delegate_options = FunctionOptions(
            threshold=options.threshold, kwargs=options.kwargs, score_errors=options.score_errors
        )
        self._delegate = cls(delegate_options, name=name, context=context)

    def score(self, item: MetricInput) -> Score | Awaitable[Score]:
        """Score with the user function."""
        return self._delegate.score(item)
