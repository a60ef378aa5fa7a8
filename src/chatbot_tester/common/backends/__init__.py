"""Chat backends: the protocol, the registry, and the built-ins (registered lazily).

Built-in backends are registered as ``module:Class`` references, so importing this package
imports no SDK; the module is imported when the backend is first created or listed.
"""

from __future__ import annotations

from chatbot_tester.common.backends.base import (
    BackendOptions,
    BackendRegistry,
    ChatBackend,
    ErrorClass,
    RetryDecision,
    backend_registry,
    default_classify,
    register_backend,
)
from chatbot_tester.common.backends.preset_table import PRESETS

__all__ = [
    "BUILTIN_BACKENDS",
    "BackendOptions",
    "BackendRegistry",
    "ChatBackend",
    "ErrorClass",
    "RetryDecision",
    "backend_registry",
    "default_classify",
    "register_backend",
]

BUILTIN_BACKENDS: dict[str, str] = {
    "openai": "chatbot_tester.common.backends.openai:OpenAIBackend",
    "anthropic": "chatbot_tester.common.backends.anthropic:AnthropicBackend",
    "http": "chatbot_tester.common.backends.http:HTTPBackend",
    "python": "chatbot_tester.common.backends.python:PythonBackend",
    "echo": "chatbot_tester.common.backends.scripted:EchoBackend",
    "scripted": "chatbot_tester.common.backends.scripted:ScriptedBackend",
    "demo": "chatbot_tester.common.backends.demo:DemoBackend",
    "transformers": "chatbot_tester.common.backends.transformers_backend:TransformersBackend",
    "litellm": "chatbot_tester.common.backends.litellm_backend:LiteLLMBackend",
}
"""Name -> lazy reference of every built-in backend."""

for _name, _ref in BUILTIN_BACKENDS.items():
    backend_registry.register_lazy(_name, _ref)

# OpenAI-compatible presets (ollama, groq, ...): classes generated in ``presets``.
for _preset in PRESETS.values():
    backend_registry.register_lazy(
        _preset.name, f"chatbot_tester.common.backends.presets:{_preset.class_name}"
    )
