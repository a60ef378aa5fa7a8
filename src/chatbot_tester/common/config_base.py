"""Shared bases of the configuration models: ``${ENV}`` resolution, strict scalars, backends.

Split from ``common.config`` so that section modules (``common.config_generator``) can build
on ``BackendSpec`` and the strict ``Int``/``Float``/``Bool`` aliases without an import cycle;
``common.config`` re-exports everything public here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from chatbot_tester.common import dotenv_source
from chatbot_tester.common.redact import looks_secret_name, register_secret
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

    Values substituted from secret-looking variables (``*_KEY``, ``*_TOKEN``, ...) or into
    secret-looking options (``api_key``, ``Authorization``, ...) are registered with
    ``common.redact`` so they never reach a log, file or error message.
    """
    if isinstance(value, str):
        secret_option = looks_secret_name(_option_name(where))

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

        return _substitute(value, where, sub)
    if isinstance(value, dict):
        return {k: resolve_env(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


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
    """Base of every config model: unknown keys are errors, field docstrings are kept."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class BackendSpec(ConfigModel):
    """Which registered backend to use and how to configure it."""

    backend: str
    """Registered backend name: openai, anthropic, http, python, echo, scripted, demo, a preset (ollama, vllm, groq, ...), or a plugin."""
    model: str | None = None
    """Model name passed in each request."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend options (base_url, api_key: "${OPENAI_API_KEY}", headers, ...); see `chatbot-tester backends`."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Sampling parameters sent with every request (temperature, max_tokens, ...)."""

    def resolved_options(self) -> dict[str, Any]:
        """Options with ``${VAR}`` references resolved (in memory only)."""
        resolved = resolve_env(self.options, where=f"backend '{self.backend}' options")
        assert isinstance(resolved, dict)
        return resolved
