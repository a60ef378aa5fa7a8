"""Structured-output metrics: ``json_valid``, ``json_schema`` (Draft 2020-12) and ``json_equals``.

Answers are parsed as strict JSON (no NaN/Infinity); by default a Markdown code fence around
the JSON (```` ```json ... ``` ````) is stripped first, as chat models often add one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from chatbot_tester.common.schemas import Score
from chatbot_tester.common.types import empty_list
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics.base import MetricContext, MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.helpers import AnswerMetric, bool_score, missing_reference

__all__ = [
    "JsonEqualsMetric",
    "JsonSchemaMetric",
    "JsonValidMetric",
    "json_diff",
    "parse_json_answer",
]

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_answer(text: str, *, strip_fences: bool = True) -> Any:
    """Parse ``text`` as strict JSON, optionally unwrapping one Markdown code fence.

    Raises ``ValueError`` (``json.JSONDecodeError`` is one) with a position on failure.
    """
    if strip_fences:
        m = _FENCE.match(text)
        if m:
            text = m.group(1)
    return json.loads(text, parse_constant=_reject_constant)


class JsonOptions(MetricOptions):
    """Options shared by the JSON metrics."""

    strip_fences: bool = True
    """Unwrap a Markdown code fence around the JSON before parsing."""


class JsonValidMetric(AnswerMetric[JsonOptions]):
    """1 when the answer parses as JSON."""

    Options = JsonOptions
    description = "Answer is valid JSON (a surrounding code fence is allowed)."

    def check(self, item: MetricInput, output: str) -> Score:
        """Try to parse the answer."""
        opts = self.options
        try:
            parse_json_answer(output, strip_fences=opts.strip_fences)
        except ValueError as exc:
            return bool_score(self, item, False, f"invalid JSON: {exc}")
        return bool_score(self, item, True, "valid JSON")


class JsonSchemaOptions(JsonOptions):
    """Options of ``json_schema``; give ``schema`` or ``schema_file``."""

    schema_: dict[str, Any] | bool | None = Field(default=None, alias="schema")
    """The JSON Schema, inline (Draft 2020-12 unless it declares ``$schema``)."""
    schema_file: Path | None = None
    """A JSON or YAML file holding the schema, relative to the pipeline file."""
    check_formats: bool = False
    """Also validate ``format`` keywords (date-time, email, ...)."""

    @model_validator(mode="after")
    def _one_source(self) -> JsonSchemaOptions:
        if (self.schema_ is None) == (self.schema_file is None):
            raise ValueError("give exactly one of 'schema' or 'schema_file'")
        return self


def _load_schema(opts: JsonSchemaOptions, context: MetricContext, name: str) -> Any:
    if opts.schema_ is not None:
        return opts.schema_
    assert opts.schema_file is not None
    path = opts.schema_file
    if not path.is_absolute():
        path = context.base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"metric '{name}': cannot read schema_file: {exc.strerror}", file=path
        ) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:  # JSON and YAML parse errors alike
        raise ConfigError(
            f"metric '{name}': schema_file is not valid JSON/YAML: {exc}", file=path
        ) from None


_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_ONE = ("not", "if", "then", "else")
_DATA_KEYS = frozenset({"const", "enum", "examples", "default"})


def check_refs(schema: Any, name: str) -> None:
    """Refuse a schema whose ``$ref`` cannot be resolved or loops without reaching a value.

    jsonschema resolves references lazily, so an unknown ``$ref`` would only fail (or a
    ``{"$ref": "#"}`` cycle recurse until ``RecursionError``) on the first answer that reaches
    it. Recursion through ``properties``/``items`` (a tree schema) is legitimate and allowed;
    only a cycle of in-place applicators (``$ref``, ``allOf``, ``not``, ...) is refused.
    """
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012, specification_with

    dialect = schema.get("$schema") if isinstance(schema, dict) else None
    spec = specification_with(dialect, default=DRAFT202012) if dialect else DRAFT202012
    root = Registry().resolver_with_root(spec.create_resource(schema))

    def lookup(ref: str) -> Any:
        try:
            return root.lookup(ref).contents
        except Unresolvable:
            raise ConfigError(
                f"metric '{name}': the JSON Schema's $ref '{ref}' cannot be resolved "
                "(only references inside the schema are supported)"
            ) from None

    def refs(node: Any) -> None:  # every $ref anywhere resolves
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                lookup(ref)
            for key, value in node.items():
                if key not in _DATA_KEYS:
                    refs(value)
        elif isinstance(node, list):
            for value in node:
                refs(value)

    done: set[int] = set()

    def in_place(node: Any, stack: list[int], path: str) -> None:
        if not isinstance(node, dict) or id(node) in done:
            return
        if id(node) in stack:
            raise ConfigError(
                f"metric '{name}': the JSON Schema's $ref at {path} loops back to itself "
                "without reaching a value; break the cycle"
            )
        stack.append(id(node))
        children: list[tuple[Any, str]] = []
        if isinstance(node.get("$ref"), str):
            children.append((lookup(node["$ref"]), f"{path}/$ref"))
        for key in _IN_PLACE_LISTS:
            items = node.get(key)
            if isinstance(items, list):
                children += [(sub, f"{path}/{key}/{i}") for i, sub in enumerate(items)]
        children += [(node[key], f"{path}/{key}") for key in _IN_PLACE_ONE if key in node]
        for child, where in children:
            in_place(child, stack, where)
        stack.pop()
        done.add(id(node))

    def every_schema(node: Any, path: str) -> None:
        if isinstance(node, dict):
            in_place(node, [], path)
            for key, value in node.items():
                if key not in _DATA_KEYS:
                    every_schema(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                every_schema(value, f"{path}/{i}")

    refs(schema)
    every_schema(schema, "#")


class JsonSchemaMetric(AnswerMetric[JsonSchemaOptions]):
    """1 when the answer is JSON valid against the schema; the reason names the first error."""

    Options = JsonSchemaOptions
    description = "Answer is JSON valid against a JSON Schema (Draft 2020-12)."

    def __init__(self, options: JsonSchemaOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        from jsonschema import Draft202012Validator, SchemaError, validators

        schema = _load_schema(options, context, name)
        cls = validators.validator_for(schema, default=Draft202012Validator)
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "(root)"
            raise ConfigError(
                f"metric '{name}': invalid JSON Schema at {where}: {exc.message}"
            ) from None
        check_refs(schema, name)
        fmt = cls.FORMAT_CHECKER if options.check_formats else None
        self._validator = cls(schema, format_checker=fmt)

    def check(self, item: MetricInput, output: str) -> Score:
        """Parse the answer and validate it against the schema."""
        opts = self.options
        try:
            data = parse_json_answer(output, strip_fences=opts.strip_fences)
        except ValueError as exc:
            return bool_score(self, item, False, f"invalid JSON: {exc}")
        errors = sorted(self._validator.iter_errors(data), key=lambda e: list(e.path))
        if not errors:
            return bool_score(self, item, True, "valid against the schema")
        shown = [f"{e.json_path}: {e.message}" for e in errors[:5]]
        return bool_score(
            self, item, False, shown[0], {"errors": shown, "error_count": len(errors)}
        )


def _strip_keys(data: Any, keys: frozenset[str]) -> Any:
    if isinstance(data, dict):
        return {k: _strip_keys(v, keys) for k, v in data.items() if k not in keys}
    if isinstance(data, list):
        return [_strip_keys(v, keys) for v in data]
    return data


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def json_diff(a: Any, b: Any, path: str = "$", *, ignore_list_order: bool = False) -> str | None:
    """The first difference between two JSON values (``None`` when equal).

    Unlike ``==``, ``true`` differs from ``1`` and ``1`` equals ``1.0`` only as numbers.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return (
            None
            if (type(a) is type(b) and a == b)
            else f"{path}: {_canonical(a)} != {_canonical(b)}"
        )
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return None if a == b else f"{path}: {a} != {b}"
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                return f"{path}.{k}: missing in answer"
            if k not in b:
                return f"{path}.{k}: unexpected key"
            d = json_diff(a[k], b[k], f"{path}.{k}", ignore_list_order=ignore_list_order)
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} expected"
        if ignore_list_order:
            a = sorted(a, key=_canonical)
            b = sorted(b, key=_canonical)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = json_diff(x, y, f"{path}[{i}]", ignore_list_order=ignore_list_order)
            if d:
                return d
        return None
    if type(a) is not type(b) or a != b:
        return f"{path}: {_canonical(a)[:60]} != {_canonical(b)[:60]}"
    return None


class JsonEqualsOptions(JsonOptions):
    """Options of ``json_equals``."""

    value: Any = None
    """Expected JSON value (any JSON, ``null`` included); default: each expected answer, parsed."""
    ignore_keys: list[str] = Field(default_factory=empty_list)
    """Object keys removed at any depth before comparing (timestamps, ids)."""
    ignore_list_order: bool = False
    """Compare arrays as multisets."""


class JsonEqualsMetric(AnswerMetric[JsonEqualsOptions]):
    """1 when the answer's JSON equals the expected JSON (object key order never matters)."""

    Options = JsonEqualsOptions
    description = (
        "Answer's JSON equals the expected JSON (key order ignored; optional ignore_keys)."
    )

    def check(self, item: MetricInput, output: str) -> Score:
        """Parse both sides and compare them structurally."""
        opts = self.options
        keys = frozenset(opts.ignore_keys)
        if "value" in opts.model_fields_set:
            targets = [opts.value]
        else:
            if not item.expected:
                return missing_reference(self, item)
            targets = []
            for i, ref in enumerate(item.expected):
                try:
                    targets.append(parse_json_answer(ref, strip_fences=True))
                except ValueError as exc:
                    return self.make(
                        item,
                        error=f"expected answer {i + 1} of sample '{item.record.sample_id}' is not valid JSON: {exc}",
                    )
        try:
            data = _strip_keys(parse_json_answer(output, strip_fences=opts.strip_fences), keys)
        except ValueError as exc:
            return bool_score(self, item, False, f"invalid JSON: {exc}")
        first: str | None = None
        for target in targets:
            diff = json_diff(
                data, _strip_keys(target, keys), ignore_list_order=opts.ignore_list_order
            )
            if diff is None:
                return bool_score(self, item, True, "equal")
            first = first or diff
        return bool_score(self, item, False, first)
