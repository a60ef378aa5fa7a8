"""The table of OpenAI-compatible presets: name -> default URL, key variable and quirks.

Pure data (no imports beyond the standard library), so the backend package can register every
preset by name without importing the ``openai`` backend module. The backends themselves are
built in ``presets``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["PRESETS", "Preset"]


@dataclass(frozen=True)
class Preset:
    """One OpenAI-compatible server or provider, reached through the ``openai`` fast path."""

    name: str
    """Backend name (``backend: ollama``)."""
    title: str
    """Who serves it, for ``chatbot-tester backends``."""
    base_url: str
    """Default API base URL (the ``/v1`` root that ``/chat/completions`` is appended to)."""
    hosted: bool
    """A provider on the internet: needs an API key and an https URL (loopback excepted)."""
    key_env: str | None = None
    """Environment variable holding the API key (required when ``hosted``, else optional)."""
    base_url_env: str | None = None
    """Environment variable holding a full base URL that replaces the default."""
    host_env: str | None = None
    """Environment variable holding ``host[:port]`` or a URL without path (``OLLAMA_HOST``);
    ``http://`` and the default port and path are added when missing."""
    auth_header: str = "Authorization: Bearer <key>"
    """How the key is sent (every preset today uses a bearer token)."""
    stream_options: bool = True
    """Send ``stream_options: {include_usage: true}`` when streaming. Off for servers that
    reject unknown fields or always put the usage in the final chunk anyway."""
    usage_container: str | None = None
    """Key of a stream chunk's object that carries the usage instead of the top-level ``usage``
    (Groq's final chunk has ``x_groq.usage``)."""
    quirks: str = ""
    """One line on what differs from OpenAI, shown by ``chatbot-tester backends NAME``."""

    @property
    def class_name(self) -> str:
        """Name of the generated backend class in ``presets``."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "PresetBackend"


_ALL = (
    Preset(
        "ollama",
        "Ollama (local)",
        "http://localhost:11434/v1",
        hosted=False,
        base_url_env="OLLAMA_BASE_URL",
        host_env="OLLAMA_HOST",
        quirks="no API key; OLLAMA_HOST (host:port) is understood as Ollama itself reads it",
    ),
    Preset(
        "vllm",
        "vLLM OpenAI-compatible server (local)",
        "http://localhost:8000/v1",
        hosted=False,
        key_env="VLLM_API_KEY",
        base_url_env="VLLM_BASE_URL",
        quirks="key optional (vllm serve --api-key)",
    ),
    Preset(
        "lmstudio",
        "LM Studio server (local)",
        "http://localhost:1234/v1",
        hosted=False,
        base_url_env="LMSTUDIO_BASE_URL",
        quirks="no API key",
    ),
    Preset(
        "llamacpp",
        "llama.cpp llama-server (local)",
        "http://localhost:8080/v1",
        hosted=False,
        key_env="LLAMA_API_KEY",
        base_url_env="LLAMACPP_BASE_URL",
        quirks="key optional (llama-server --api-key); usage and timings in the final chunk",
    ),
    Preset(
        "tgi",
        "Hugging Face Text Generation Inference (local or Inference Endpoints)",
        "http://localhost:8080/v1",
        hosted=False,
        key_env="HF_TOKEN",
        base_url_env="TGI_BASE_URL",
        stream_options=False,
        quirks="no stream_options sent (older TGI rejects unknown fields); key optional",
    ),
    Preset(
        "openrouter",
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        hosted=True,
        key_env="OPENROUTER_API_KEY",
        base_url_env="OPENROUTER_BASE_URL",
        quirks="': OPENROUTER PROCESSING' keep-alive comments in streams (skipped)",
    ),
    Preset(
        "together",
        "Together AI",
        "https://api.together.xyz/v1",
        hosted=True,
        key_env="TOGETHER_API_KEY",
        base_url_env="TOGETHER_BASE_URL",
    ),
    Preset(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        hosted=True,
        key_env="GROQ_API_KEY",
        base_url_env="GROQ_BASE_URL",
        usage_container="x_groq",
        quirks="stream usage may arrive as x_groq.usage in the final chunk (read)",
    ),
    Preset(
        "mistral",
        "Mistral AI (La Plateforme)",
        "https://api.mistral.ai/v1",
        hosted=True,
        key_env="MISTRAL_API_KEY",
        base_url_env="MISTRAL_BASE_URL",
        stream_options=False,
        quirks="no stream_options sent (usage is always in the final chunk)",
    ),
    Preset(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com/v1",
        hosted=True,
        key_env="DEEPSEEK_API_KEY",
        base_url_env="DEEPSEEK_BASE_URL",
    ),
)

PRESETS: MappingProxyType[str, Preset] = MappingProxyType({p.name: p for p in _ALL})
"""Every preset by backend name (read-only)."""
