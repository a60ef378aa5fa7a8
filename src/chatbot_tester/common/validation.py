"""Turn pydantic validation errors into one clear line naming the field and the fix.

Shared by the JSONL reader (``dataset.jsonl:7: field 'id': ...``) and the YAML loader
(``pipeline.yaml:12:5: runner.concurency: unknown key (did you mean 'concurrency'?)``).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from chatbot_tester.common.redact import redact
from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.errors import DatasetError

__all__ = [
    "Problem",
    "describe_validation_error",
    "duplicate_id_error",
    "format_row_error",
    "format_validation_error",
    "unknown_key_hint",
]

_TYPE_TAG = re.compile(
    r"^(str|int|float|bool|bytes|none|list|dict|tuple|set|.*\[.*\]|function-.*)$"
)
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
    "path_type": "a path",
}


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and _TYPE_TAG.match(part) is not None


def _clean_loc(loc: tuple[int | str, ...], *, keep_last: bool = False) -> tuple[int | str, ...]:
    """``loc`` without pydantic's union-member tags (``str``, ``list[Message]``, ...)."""
    kept = tuple(p for p in loc[: len(loc) - 1 if keep_last else len(loc)] if not _is_tag(p))
    return (*kept, loc[-1]) if keep_last and loc else kept


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:  # as written in YAML/JSON
        return f"{'null' if value is None else str(value).lower()} ({type(value).__name__})"
    text = redact(repr(value))
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type(value).__name__})"


class Problem(NamedTuple):
    """One validation problem, ready to print."""

    loc: tuple[int | str, ...]
    """Where, with pydantic's union-member tags removed."""
    type: str
    """Pydantic error type (``extra_forbidden``, ``missing``, ``int_parsing``, ...)."""
    message: str
    """What is wrong, as a phrase (empty for ``extra_forbidden`` and ``missing``)."""
    input: Any
    """The offending input value."""


def describe_validation_error(exc: ValidationError) -> Problem:
    """The first problem of ``exc`` as ``Problem(location, error type, phrase, input)``.

    Union members are merged (``expected a string or a list, got 5 (int)``) and the most
    specific member error wins (``input.0.role`` rather than ``input: not a string``), so
    the message points at what the user has to fix. The location has union tags removed.
    """
    errs = exc.errors(include_url=False)
    first = errs[0]
    loc = tuple(first["loc"])
    keep_last = first["type"] == "extra_forbidden"
    tag_at = next((i for i, p in enumerate(loc) if _is_tag(p)), None)
    group = [first]
    if tag_at is not None:
        prefix = loc[:tag_at]
        group = [e for e in errs if tuple(e["loc"])[:tag_at] == prefix and len(e["loc"]) > tag_at]
    depth = max(len(_clean_loc(tuple(e["loc"]))) for e in group)
    group = [e for e in group if len(_clean_loc(tuple(e["loc"]))) == depth] or [first]
    err = group[0]
    clean = _clean_loc(tuple(err["loc"]), keep_last=keep_last)
    etype = str(err["type"])
    if etype in ("extra_forbidden", "missing"):
        return Problem(clean, etype, "", err.get("input"))
    expected = [_EXPECTED.get(str(e["type"])) for e in group]
    if all(expected):
        unique = list(dict.fromkeys(x for x in expected if x))
        phrase = f"expected {' or '.join(unique)}, got {_short(err['input'])}"
        return Problem(clean, etype, phrase, err.get("input"))
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    elif msg.startswith("Input should be ") and "input" in err:
        msg = f"must be {msg[len('Input should be ') :]}, got {_short(err['input'])}"
    return Problem(clean, etype, msg, err.get("input"))


def _model_fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """Field names of the model found by walking ``loc`` from ``model`` (None if unknown)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        current = _submodel(fields[part].annotation)
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else None


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model class inside ``annotation`` (through Optional, list, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def unknown_key_hint(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """`` (did you mean 'x'?)`` for an unknown key at ``loc`` of ``model``, or ``""``."""
    fields = _model_fields_at(model, loc[:-1])
    if not fields:
        return ""
    return f" ({did_you_mean(str(loc[-1]), fields)})"


def format_row_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first problem of a row's validation error as one phrase naming the field."""
    loc, etype, phrase, _ = describe_validation_error(exc)
    where = ".".join(str(p) for p in loc)
    if etype == "extra_forbidden":
        return f"field '{where}': unknown field{unknown_key_hint(model, loc)}"
    if etype == "missing":
        return f"field '{where}': required field is missing"
    return f"field '{where}': {phrase}" if where else phrase


def format_validation_error(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    """One line for the options of a backend, metric or embedder (``where`` names which).

    A misspelt option shows up as "unknown" plus "missing"; the unknown one, with its
    did-you-mean, is the fix, so it wins over the first error.
    """
    extra = next((e for e in exc.errors(include_url=False) if e["type"] == "extra_forbidden"), None)
    if extra is not None:
        loc = _clean_loc(tuple(extra["loc"]), keep_last=True)
        dotted = ".".join(str(p) for p in loc)
        return f"{where}: unknown option '{dotted}'{unknown_key_hint(model, loc)}"
    loc, etype, phrase, _ = describe_validation_error(exc)
    dotted = ".".join(str(p) for p in loc)
    if etype == "missing":
        return f"{where}: missing required option '{dotted}'"
    return f"{where}: option '{dotted}': {phrase}" if dotted else f"{where}: {phrase}"


def duplicate_id_error(
    sample_id: str,
    *,
    file: str | Path | None,
    line: int | None = None,
    first_line: int | None = None,
) -> DatasetError:
    """The one error for a sample id seen twice (the generator, the runner and the evaluator)."""
    first = f" (first used on line {first_line})" if first_line is not None else ""
    return DatasetError(
        f"duplicate id '{sample_id}'{first}; ids must be unique", file=file, line=line
    )
