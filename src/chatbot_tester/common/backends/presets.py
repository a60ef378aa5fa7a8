"""OpenAI-compatible presets (``backend: ollama``, ``groq``, ...) on the ``openai`` fast path.

Each preset of ``preset_table.PRESETS`` becomes a subclass of ``OpenAIBackend`` that fills in
the base URL, the API key and the streaming quirks, so that ``backend: ollama`` with only a
``model`` works. The rules, applied when the backend is created (before any request):

- **Base URL**: ``options.base_url``, else the preset's URL variable (``OLLAMA_BASE_URL``),
  else its host variable (``OLLAMA_HOST``: ``host[:port]``, completed with ``http://``, the
  default port and ``/v1``), else the preset's default.
- **Conflicts** (``ConfigError``, exit 2; ``preset_base_url_check: false`` turns them off):
  a hosted preset given plain ``http://`` to a host that is not loopback (the key would travel
  unencrypted), or any preset pointed at the host of another provider (``groq`` at
  ``api.together.xyz``, ``ollama`` at ``api.openai.com``): use that backend instead.
- **API key**: ``options.api_key``, else the preset's variable (``GROQ_API_KEY``). Hosted
  presets without one fail with one line naming the variable. ``OPENAI_API_KEY``,
  ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID`` are never sent to a preset's server.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from chatbot_tester.common.backends.openai import (
    OpenAIBackend,
    OpenAICompatibleOptions,
    OpenAIOptions,
)
from chatbot_tester.common.backends.preset_table import PRESETS, Preset
from chatbot_tester.common.backends.sdk_common import api_key_from
from chatbot_tester.errors import ConfigError

if TYPE_CHECKING:
    import openai

__all__ = [
    "PRESET_BACKENDS",
    "PresetBackend",
    "PresetOptions",
    "check_base_url",
    "resolve_base_url",
]

_OTHER_PROVIDERS = {"api.openai.com": "openai", "api.anthropic.com": "anthropic"}
"""Hosts of providers that have their own backend (besides the hosted presets)."""


class PresetOptions(OpenAICompatibleOptions):
    """Options of an OpenAI-compatible preset (``ollama``, ``groq``, ...)."""

    base_url: str | None = None
    """API base URL; default: the preset's URL environment variable, else its default URL."""
    api_key: str | None = Field(default=None, repr=False)
    """API key; default: the preset's key environment variable (e.g. ``GROQ_API_KEY``)."""
    preset_base_url_check: bool = True
    """Refuse a base URL that is clearly wrong for this preset (plain http to a remote host
    for a hosted provider, or another provider's host); false turns the check off."""


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def _from_host(preset: Preset, value: str) -> str:
    """``OLLAMA_HOST``-style ``host[:port]`` (or a URL without path) as a full base URL."""
    default = urlsplit(preset.base_url)
    text = value.strip().rstrip("/")
    if "://" not in text:
        text = f"{default.scheme}://{text}"
    parts = urlsplit(text)
    netloc = parts.netloc
    if parts.port is None and default.port is not None:
        netloc = f"{netloc}:{default.port}"
    return f"{parts.scheme}://{netloc}{parts.path or default.path}"


def resolve_base_url(preset: Preset, explicit: str | None) -> tuple[str, str]:
    """The base URL to use and where it came from (an option, a variable or the default)."""
    if explicit:
        return explicit, "options.base_url"
    if preset.base_url_env and os.environ.get(preset.base_url_env):
        return os.environ[preset.base_url_env], f"${preset.base_url_env}"
    if preset.host_env and os.environ.get(preset.host_env):
        return _from_host(preset, os.environ[preset.host_env]), f"${preset.host_env}"
    return preset.base_url, "the preset default"


def check_base_url(preset: Preset, url: str, source: str) -> None:
    """``ConfigError`` when ``url`` clearly conflicts with ``preset`` (see the module docstring)."""
    parts = urlsplit(url)
    where = f"backend '{preset.name}': base_url {url!r} (from {source})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where} is not an http(s) URL; write it like {preset.base_url}")
    host = parts.hostname.lower()
    owners = {urlsplit(p.base_url).hostname: p.name for p in PRESETS.values() if p.hosted}
    owners.update(_OTHER_PROVIDERS)
    owner = owners.get(host)
    if owner is not None and owner != preset.name:
        raise ConfigError(
            f"{where} is the host of '{owner}': use backend: {owner}, or drop base_url "
            f"(default {preset.base_url})"
        )
    if preset.hosted and parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"{where} would send the {preset.name} API key unencrypted to a remote host: "
            f"use https:// (default {preset.base_url}) or set preset_base_url_check: false"
        )


class PresetBackend(OpenAIBackend):
    """An ``OpenAIBackend`` whose URL, key and stream quirks come from a ``Preset``."""

    preset: ClassVar[Preset]
    Options = PresetOptions  # type: ignore[assignment]  # a narrower, documented model

    def __init__(self, options: PresetOptions) -> None:
        preset = self.preset
        base_url, source = resolve_base_url(preset, options.base_url)
        if options.preset_base_url_check:
            check_base_url(preset, base_url, source)
        fields: dict[str, Any] = options.model_dump(exclude={"preset_base_url_check"})
        fields["base_url"] = base_url
        try:
            resolved = OpenAIOptions.model_validate(fields)
        except ValueError as exc:
            raise ConfigError(f"backend '{preset.name}': base_url (from {source}): {exc}") from None
        super().__init__(resolved)

    def _make_client(self) -> openai.AsyncOpenAI:
        """The SDK client, minus the organization and project it read from the environment.

        ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID`` belong to OpenAI, not to this server.
        """
        client = super()._make_client()
        client.organization = None
        client.project = None
        return client

    def _resolve_api_key(self, options: OpenAIOptions) -> str | None:
        """The key from the options or the preset's variable; never ``OPENAI_API_KEY``."""
        preset = self.preset
        env = (preset.key_env,) if preset.key_env else ()
        if not env:
            return options.api_key
        return api_key_from(options.api_key, env, backend=preset.name, required=preset.hosted)


def _make(preset: Preset) -> type[PresetBackend]:
    description = f"{preset.title}: OpenAI-compatible preset, default {preset.base_url}"
    if preset.base_url_env:
        description += f" (or ${preset.base_url_env})"
    if preset.key_env:
        description += f", key ${preset.key_env}" + ("" if preset.hosted else " (optional)")
    if preset.quirks:
        description += f"; {preset.quirks}"
    namespace: dict[str, Any] = {
        "preset": preset,
        "description": description,
        "send_stream_options": preset.stream_options,
        "usage_container": preset.usage_container,
        "__module__": __name__,
        "__doc__": f"The ``{preset.name}`` preset ({preset.title}).",
    }
    return type(preset.class_name, (PresetBackend,), namespace)


PRESET_BACKENDS: dict[str, type[PresetBackend]] = {
    name: _make(preset) for name, preset in PRESETS.items()
}
"""Backend class of every preset by name; each is also a module attribute (lazy references)."""

globals().update({cls.__name__: cls for cls in PRESET_BACKENDS.values()})
