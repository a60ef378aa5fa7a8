"""Embedding backends (for ``semantic_similarity``): protocol, registry and built-ins.

Built-ins are registered lazily by name, so importing this package imports neither the
openai SDK nor torch: ``openai`` (any OpenAI-compatible ``/v1/embeddings`` endpoint) and
``sentence_transformers`` (a local model; extra ``embeddings``).
"""

from __future__ import annotations

from chatbot_tester.evaluator.embeddings.base import (
    CachedEmbedder,
    EmbeddingBackend,
    EmbeddingOptions,
    cosine_similarity,
    create_embedder,
    embedding_registry,
)

__all__ = [
    "BUILTIN_EMBEDDINGS",
    "CachedEmbedder",
    "EmbeddingBackend",
    "EmbeddingOptions",
    "cosine_similarity",
    "create_embedder",
    "embedding_registry",
]

BUILTIN_EMBEDDINGS: dict[str, str] = {
    "openai": "chatbot_tester.evaluator.embeddings.openai_embeddings:OpenAIEmbeddings",
    "sentence_transformers": "chatbot_tester.evaluator.embeddings.st_embeddings:SentenceTransformerEmbeddings",
}
"""Built-in embedding backend names -> lazy ``module:Class`` references."""

for _name, _ref in BUILTIN_EMBEDDINGS.items():
    embedding_registry.register_lazy(_name, _ref)
