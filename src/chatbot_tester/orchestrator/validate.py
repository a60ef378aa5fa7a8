"""Up-front validation of a pipeline: everything that can be checked without calling a model.

Runs before any run directory exists, so a bad config, source, backend option, metric option
or gate leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.backends.base import format_validation_error
from chatbot_tester.common.config import BackendSpec, MetricSpec, PipelineConfig
from chatbot_tester.common.hashing import stable_hash
from chatbot_tester.common.workspace import validate_name
from chatbot_tester.errors import ConfigError

__all__ = ["backend_hash", "validate_pipeline"]


def _where(config: PipelineConfig, field: str) -> str:
    source = config.source_file
    return f"{source}: {field}" if source is not None else field


def _validate_backend(config: PipelineConfig, spec: BackendSpec, field: str) -> None:
    if spec.backend not in backend_registry:
        # get() raises the did-you-mean error; prefix it with the config location.
        try:
            backend_registry.get(spec.backend)
        except Exception as exc:
            raise ConfigError(f"{_where(config, field + '.backend')}: {exc}") from None
    cls = backend_registry.get(spec.backend)
    try:
        cls.Options.model_validate(spec.resolved_options())
    except ValidationError as exc:
        msg = format_validation_error(exc, cls.Options, f"backend '{spec.backend}'")
        raise ConfigError(f"{_where(config, field + '.options')}: {msg}") from None


def _validate_metric(config: PipelineConfig, spec: MetricSpec | dict[str, Any], field: str) -> None:
    from chatbot_tester.evaluator.metrics import metric_registry

    type_ = spec.type if isinstance(spec, MetricSpec) else str(spec.get("type"))
    options = spec.options if isinstance(spec, MetricSpec) else {}
    try:
        cls = metric_registry.get(type_)
    except Exception as exc:
        raise ConfigError(f"{_where(config, field + '.type')}: {exc}") from None
    try:
        cls.Options.model_validate(options)
    except ValidationError as exc:
        msg = format_validation_error(exc, cls.Options, f"metric '{type_}'")
        raise ConfigError(f"{_where(config, field)}: {msg}") from None


def validate_pipeline(config: PipelineConfig) -> None:
    """Check names, backends (all stages), metric options and gates; raise ConfigError."""
    try:
        validate_name(config.name, "pipeline name")
    except ConfigError as exc:
        raise ConfigError(f"{_where(config, 'name')}: {exc.message}") from None
    if config.generator.dataset_id is not None:
        validate_name(config.generator.dataset_id, "generator.dataset_id")
    if config.generator.synthetic is not None:
        _validate_backend(config, config.generator.synthetic, "generator.synthetic")
    _validate_backend(config, config.runner, "runner")
    if config.evaluator.judge is not None:
        _validate_backend(config, config.evaluator.judge, "evaluator.judge")
    for i, spec in enumerate(config.evaluator.metrics):
        _validate_metric(config, spec, f"evaluator.metrics[{i}]")
    from chatbot_tester.evaluator.gates import validate_gate

    for i, expr in enumerate(config.evaluator.thresholds):
        try:
            validate_gate(expr)
        except ConfigError as exc:
            raise ConfigError(f"{_where(config, f'evaluator.thresholds[{i}]')}: {exc}") from None


def backend_hash(config: PipelineConfig) -> str:
    """Identity of the chatbot under test, for refusing to resume against a changed one.

    Uses the options as written (``${ENV}`` references unresolved), so rotating a key does not
    count as a change while pointing at another endpoint does.
    """
    runner = config.runner
    return stable_hash(
        {
            "backend": runner.backend,
            "model": runner.model,
            "options": runner.options,
            "params": runner.params,
            "system_prompt": runner.system_prompt,
            "repeat": runner.repeat,
        }
    )
