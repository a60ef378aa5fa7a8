"""The pipeline's JSON Schema with the built-in backend, metric and report names offered.

``common.config_schema`` builds the schema from the config models; the built-in metric
names live in the evaluator, so the full schema is assembled here, above both.
"""

from __future__ import annotations

from chatbot_tester.common import backends
from chatbot_tester.common.config_schema import KnownNames
from chatbot_tester.common.config_schema import render_schema as _render
from chatbot_tester.common.registry import BUILTIN_REPORTERS
from chatbot_tester.evaluator.metrics.builtins import BUILTIN_METRICS

__all__ = ["builtin_names", "render_pipeline_schema"]


def builtin_names() -> KnownNames:
    """The built-in backends (and presets), metric types and report formats.

    Only names this package ships: plugins installed beside it would make the committed
    schema depend on the machine that generated it.
    """
    presets = getattr(backends, "PRESETS", {})  # the OpenAI-compatible presets, once present
    return KnownNames(
        backends=[
            *backends.BUILTIN_BACKENDS,
            *(n for n in presets if n not in backends.BUILTIN_BACKENDS),
        ],
        metrics=list(BUILTIN_METRICS),
        reporters=list(BUILTIN_REPORTERS),
    )


def render_pipeline_schema() -> str:
    """``schema/pipeline.schema.json`` as ``chatbot-tester schema`` prints it."""
    return _render(builtin_names())
