"""``--storage-option KEY=VALUE`` (repeatable): fsspec options for a remote workspace.

They are merged over the pipeline's ``storage.options`` (and the environment's credential
chain). A dotted key nests (``client_kwargs.endpoint_url=http://127.0.0.1:9000``); ``true``,
``false``, ``null`` and numbers become YAML scalars; ``${VAR}`` references are resolved in
memory only, so a secret can be passed by name and is never written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["parse_storage_options", "storage_option"]

F = TypeVar("F", bound=Callable[..., Any])


def storage_option(func: F) -> F:
    """The ``--storage-option`` option (into the ``storage_options`` parameter)."""
    return click.option(
        "--storage-option",
        "storage_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="An fsspec option of a remote workspace (repeatable; dotted keys nest; "
        "values may be ${VAR}), e.g. client_kwargs.endpoint_url=${S3_ENDPOINT}.",
    )(func)


def _scalar(text: str) -> Any:
    import yaml

    if "${" in text:
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (bool, int, float)) or value is None else text


def parse_storage_options(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items as a nested dict, ``${VAR}`` resolved; ``UsageError`` when bad."""
    from chatbot_tester.common.config import resolve_env
    from chatbot_tester.errors import ConfigError, UsageError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            raise UsageError(
                f"--storage-option {item.split('=', 1)[0]}: expected KEY=VALUE, "
                "e.g. client_kwargs.endpoint_url=http://127.0.0.1:9000"
            )
        try:
            value = resolve_env(_scalar(raw), where=f"--storage-option {key}")
        except ConfigError as exc:
            raise UsageError(exc.message) from None
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"--storage-option {key}: '{part}' is already set to a value")
            node = child
        node[parts[-1]] = value
    return out
