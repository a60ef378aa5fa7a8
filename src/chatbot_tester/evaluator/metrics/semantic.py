"""``semantic_similarity``: cosine similarity of answer and reference embeddings.

Embeddings come from a backend of the embedding registry (``evaluator.embeddings``): ``openai``
(any OpenAI-compatible endpoint; by default it reuses the pipeline judge's ``base_url`` and
``api_key`` when the judge is an ``openai`` backend) or ``sentence_transformers`` (a local
model). Each distinct text is embedded once per metric instance.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chatbot_tester.common.schemas import Score
from chatbot_tester.common.types import empty_dict
from chatbot_tester.evaluator.embeddings import CachedEmbedder, cosine_similarity, create_embedder
from chatbot_tester.evaluator.metrics.base import MetricContext, MetricInput
from chatbot_tester.evaluator.metrics.helpers import (
    AnswerMetric,
    ValueOptions,
    missing_reference,
    references,
)

__all__ = ["SemanticSimilarityMetric", "SemanticSimilarityOptions"]


class SemanticSimilarityOptions(ValueOptions):
    """Options of ``semantic_similarity``."""

    backend: str = "openai"
    """Embedding backend: openai, sentence_transformers, or a plugin's name."""
    model: str | None = None
    """Embedding model (default: the backend's, e.g. text-embedding-3-small / all-MiniLM-L6-v2)."""
    options: dict[str, Any] = Field(default_factory=empty_dict)
    """Backend options (base_url, api_key: "${OPENAI_API_KEY}", device, ...)."""


def _backend_options(opts: SemanticSimilarityOptions, context: MetricContext) -> dict[str, Any]:
    options = dict(opts.options)
    if opts.model is not None:
        options["model"] = opts.model
    judge = context.judge
    if opts.backend == "openai" and judge is not None and judge.backend == "openai":
        for key in ("base_url", "api_key"):
            if key in judge.options and key not in options:
                options[key] = judge.options[key]
    if opts.backend == "sentence_transformers" and isinstance(options.get("model"), str):
        candidate = context.base_dir / options["model"]
        if candidate.is_dir():
            options["model"] = str(candidate)
    return options


class SemanticSimilarityMetric(AnswerMetric[SemanticSimilarityOptions]):
    """Cosine similarity (clamped to 0..1) between the answer and the closest reference."""

    Options = SemanticSimilarityOptions
    description = (
        "Embedding cosine similarity to the closest reference (openai or sentence_transformers)."
    )

    def __init__(
        self, options: SemanticSimilarityOptions, *, name: str, context: MetricContext
    ) -> None:
        super().__init__(options, name=name, context=context)
        backend = create_embedder(
            options.backend,
            _backend_options(options, context),
            where=f"metric '{name}' embedding backend '{options.backend}'",
        )
        self._embedder = CachedEmbedder(backend)

    async def check(self, item: MetricInput, output: str) -> Score:
        """Embed the answer and references; best cosine wins."""
        opts = self.options
        refs = references(item, opts.value)
        if not refs:
            return missing_reference(self, item)
        vectors = await self._embedder.embed([output, *refs])
        cosines = [cosine_similarity(vectors[0], v) for v in vectors[1:]]
        best = max(cosines)
        value = max(0.0, best)
        return self.make(
            item,
            value,
            reason=f"cosine {best:.3f} ({opts.backend})",
            details={"cosine": best, "per_reference": cosines},
        )

    async def aclose(self) -> None:
        """Close the embedding backend's client."""
        await self._embedder.aclose()
