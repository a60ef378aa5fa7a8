"""The pipeline's JSON Schema, generated from the pydantic models (``chatbot-tester schema``).

Editors read it through the ``# yaml-language-server: $schema=...`` comment at the top of a
``pipeline.yaml`` (VS Code's YAML extension completes and validates keys with it). The
repository keeps a copy in ``schema/pipeline.schema.json``; a test regenerates it and fails
when the two drift apart (regenerate with ``chatbot-tester schema -o schema/pipeline.schema.json``).

The output is the models' schema tidied for people: no titles derived from field names
("Max S"), no pydantic-only ``format: path``, single backticks in the descriptions (they are
shown as Markdown too), and the generator's "a file, an LLM, documents or packs" rule as ``anyOf``. Names
that are open to plugins (backends, metric types, report formats) are not an ``enum``, but
the built-in ones are listed as ``examples`` so an editor can offer them
(``orchestrator.pipeline_schema`` passes them in: the metrics live in the evaluator).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.field_docs import documented

__all__ = ["SCHEMA_COMMENT", "SCHEMA_DIALECT", "KnownNames", "pipeline_schema", "render_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_COMMENT = "# yaml-language-server: $schema={path}"
"""The first line of a pipeline that points editors at the schema (a path relative to it)."""

_RST_LITERAL = re.compile(r"``(.+?)``")


class _Generator(GenerateJsonSchema):
    """Pydantic's generator without the titles it derives from field names."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _tidy(node: Any) -> Any:
    """``node`` with pydantic-only keys removed and descriptions in Markdown."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "format" and value == "path":
            continue  # not a JSON Schema format: a path is just a string here
        if key == "description" and isinstance(value, str):
            text = _RST_LITERAL.sub(r"`\1`", value)
            out["description"] = text
            out["markdownDescription"] = text  # VS Code renders this one as Markdown
            continue
        # "properties" and "$defs" map names to schemas: their keys are not keywords.
        out[key] = (
            {k: _tidy(v) for k, v in value.items()}
            if key in ("properties", "$defs") and isinstance(value, dict)
            else _tidy(value)
        )
    return out


@dataclass(frozen=True)
class KnownNames:
    """Built-in names offered as ``examples`` where plugins may add more."""

    backends: Sequence[str] = ()
    metrics: Sequence[str] = ()
    reporters: Sequence[str] = ()


def _offer(prop: dict[str, Any], names: Sequence[str]) -> None:
    if names:
        prop["examples"] = list(names)


def pipeline_schema(names: KnownNames | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``pipeline.yaml``."""
    names = names or KnownNames()
    raw = documented(PipelineConfig).model_json_schema(schema_generator=_Generator)
    schema = _tidy(raw)
    defs = schema["$defs"]
    # GeneratorConfig's validator: a file, an LLM, documents or red-team packs (any mix).
    defs["GeneratorConfig"]["anyOf"] = [
        {"required": [key]} for key in ("source", "synthetic", "documents", "packs")
    ]
    for model in ("RunnerConfig", "JudgeConfig", "SyntheticConfig", "DocumentsConfig"):
        _offer(defs[model]["properties"]["backend"], names.backends)
    variant_backend = defs["VariantConfig"]["properties"]["backend"]["anyOf"][0]
    _offer(variant_backend, names.backends)
    _offer(defs["MetricSpec"]["properties"]["type"], names.metrics)
    _offer(defs["ReportConfig"]["properties"]["formats"]["items"], names.reporters)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "chatbot-tester pipeline",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def render_schema(names: KnownNames | None = None) -> str:
    """The schema as the committed file holds it: indented JSON in model order, final newline."""
    return json.dumps(pipeline_schema(names), indent=2, ensure_ascii=False) + "\n"
