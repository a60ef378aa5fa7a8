"""Shared bases of the configuration models: ``${ENV}`` resolution, strict scalars, backends.

Split from ``common.config`` so that section modules (``common.config_generator``) can build
on ``BackendSpec`` and the strict ``Int``/``Float``/``Bool`` aliases without an import cycle;
``common.config`` re-exports everything public here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import unquote

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from typing_extensions import Self

from chatbot_tester.common import dotenv_source
from chatbot_tester.common.redact import looks_secret_name, register_secret
from chatbot_tester.common.types import empty_dict
from chatbot_tester.errors import ConfigError

__all__ = ["BackendSpec", "Bool", "ConfigModel", "Float", "Int", "resolve_env"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def _option_name(where: str) -> str:
    """The innermost option name in a ``where`` path (``opts.headers[0]`` -> ``headers``)."""
    return re.sub(r"(\[\d+\])+$", "", where).rsplit(".", 1)[-1]


def _substitute(value: str, where: str, sub: Callable[[re.Match[str]], str]) -> str:
    """``value`` with each ``${...}`` replaced by ``sub``; ``$${`` is a literal ``${``.

    A ``${`` that does not start a valid reference is a ``ConfigError`` naming ``where``; the
    text of the reference is not echoed (it may be a secret pasted in by mistake).
    """
    if "${" not in value:
        return value
    out: list[str] = []
    pos = 0
    while True:
        start = value.find("${", pos)
        if start < 0:
            out.append(value[pos:])
            return "".join(out)
        if start > pos and value[start - 1] == "$":
            out.append(value[pos : start - 1] + "${")
            pos = start + 2
            continue
        match = _ENV_REF.match(value, start)
        if match is None:
            if value.find("}", start) < 0:
                problem = "unterminated ${...} reference: add the closing '}'"
            else:
                problem = (
                    "invalid ${...} reference: write ${NAME} or ${NAME:-default}, NAME being "
                    "letters, digits and '_'"
                )
            raise ConfigError(f"{where}: {problem} (or $${{ for a literal ${{)")
        out.append(value[pos:start])
        out.append(sub(match))
        pos = match.end()


def resolve_env(value: Any, *, where: str = "config") -> Any:
    """Resolve ``${VAR}`` and ``${VAR:-default}`` inside strings, recursively, in memory only.

    ``$${`` stands for a literal ``${``; any other ``${`` that is not a complete reference
    (no closing ``}``, or an invalid name) is a ``ConfigError`` naming the option.

    Which substituted values are registered with ``common.redact`` (so every writer masks
    them): those of secret-looking variables (``*_KEY``, ``*_TOKEN``, ``*_SECRET``,
    ``*_PASSWORD``, ``*_AUTH``, ...), those put into secret-looking options (``api_key``,
    ``Authorization``, ...) or into any HTTP header, and the password of a URL. Other values
    (a system prompt, a model name) are not: reports would be unreadable.
    """
    if isinstance(value, str):
        secret_option = looks_secret_name(_option_name(where)) or ".headers." in where

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            found = dotenv_source.lookup(name)  # the environment, then a .env beside the pipeline
            if found is not None:
                if secret_option or looks_secret_name(name):
                    register_secret(found)
                return found
            if default is not None:
                if secret_option:
                    register_secret(default)
                return default
            raise ConfigError(
                f"{where}: environment variable '{name}' is not set "
                f"(export it, put it in a .env beside the pipeline, or write ${{{name}:-default}})"
            )

        resolved = _substitute(value, where, sub)
        if resolved is not value and "@" in resolved:
            _register_url_password(resolved)
        return resolved
    if isinstance(value, dict):
        return {k: resolve_env(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _register_url_password(text: str) -> None:
    """Register the password of ``scheme://user:password@host`` (raw and percent-decoded)."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^@]*:[^@]*)@", text)
    if match is None:
        return
    password = match.group(1).split(":", 1)[1]
    register_secret(password)
    register_secret(unquote(password))
    register_secret(match.group(1))


def _typed(raw: Any, resolved: Any) -> Any:
    """A parameter written as one whole ``${VAR}`` becomes a number or boolean when it reads as one."""
    if isinstance(raw, str) and isinstance(resolved, str) and _ENV_REF.fullmatch(raw):
        try:
            parsed = json.loads(resolved)
        except ValueError:
            return resolved
        if isinstance(parsed, (bool, int, float)):
            return parsed
    return resolved


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


Int = Annotated[int, Strict()]
"""An integer field: ``true`` or ``"3"`` are errors, not 1 and 3 (pydantic's lax mode)."""
Bool = Annotated[bool, Strict()]
"""A boolean field: only ``true``/``false``, not ``1``, ``"yes"`` or ``"false"``."""
Float = Annotated[float, BeforeValidator(_not_bool)]
"""A number field: integers are fine, ``true``/``false`` are errors."""


class ConfigModel(BaseModel):
    """Base of every config model: unknown keys are errors (field docstrings: ``common.field_docs``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BackendSpec(ConfigModel):
    """Which registered backend to use and how to configure it."""

    backend: str
    """Registered backend name: openai, anthropic, http, python, echo, scripted, demo, a preset (ollama, vllm, groq, ...), or a plugin."""
    model: str | None = None
    """Model name passed in each request."""
    options: dict[str, Any] = Field(default_factory=empty_dict)
    """Backend options (base_url, api_key: "${OPENAI_API_KEY}", headers, ...); see `chatbot-tester backends`."""
    params: dict[str, Any] = Field(default_factory=empty_dict)
    """Sampling parameters sent with every request (temperature, max_tokens, ...)."""

    config_path: ClassVar[str] = "backend"
    """Where this section sits in the pipeline, for error messages (``runner``, ...)."""

    def resolved_options(self) -> dict[str, Any]:
        """Options with ``${VAR}`` references resolved (in memory only)."""
        resolved = resolve_env(self.options, where=f"backend '{self.backend}' options")
        assert isinstance(resolved, dict)
        return resolved

    def resolved(self, where: str | None = None) -> Self:
        """A copy with ``${VAR}`` resolved in every text field but ``options`` (in memory only).

        ``options`` stay as written (``resolved_options`` resolves them when the backend is
        created, exactly once). A parameter written as one whole reference becomes a number
        or boolean when its value reads as one (``max_tokens: ${MAX_TOKENS}``). An unset
        variable is a ``ConfigError`` naming the field and the variable.
        """
        where = where or self.config_path
        update: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name in ("backend", "options"):
                continue
            value = getattr(self, name)
            if isinstance(value, (BaseModel, Path)) or value is None:
                continue
            resolved = resolve_env(value, where=f"{where}.{name}")
            if name == "params" and isinstance(value, dict):
                resolved = {k: _typed(value[k], v) for k, v in resolved.items()}
            if resolved != value:
                update[name] = resolved
        return self.model_copy(update=update) if update else self
