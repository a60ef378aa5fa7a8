"""``openai`` embeddings: any OpenAI-compatible ``/v1/embeddings`` endpoint via the openai SDK.

The SDK is imported and the client created on the first call (inside the event loop), so
creating the backend costs nothing and importing this module imports no SDK.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from chatbot_tester.common.types import empty_dict
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.embeddings.base import EmbeddingBackend, EmbeddingOptions

__all__ = ["OpenAIEmbeddingOptions", "OpenAIEmbeddings"]


class OpenAIEmbeddingOptions(EmbeddingOptions):
    """Options of the ``openai`` embedding backend."""

    model: str = "text-embedding-3-small"
    """Embedding model name."""
    base_url: str | None = None
    """API base URL, e.g. ``http://127.0.0.1:8000/v1``; default: the SDK's (OPENAI_BASE_URL or OpenAI)."""
    api_key: str | None = None
    """API key, e.g. ``${OPENAI_API_KEY}``; default: the OPENAI_API_KEY environment variable."""
    dimensions: int | None = Field(default=None, ge=1)
    """Requested vector size (models that support shortening)."""
    batch_size: int = Field(default=128, ge=1, le=2048)
    """Texts per request."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Per-request timeout."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """SDK retries on connection errors, 429 and 5xx."""
    headers: dict[str, str] = Field(default_factory=empty_dict)
    """Extra HTTP headers."""


class OpenAIEmbeddings(EmbeddingBackend[OpenAIEmbeddingOptions]):
    """Embeddings from an OpenAI-compatible endpoint (OpenAI, Azure-compatible gateways, vLLM, ...)."""

    Options = OpenAIEmbeddingOptions
    description = "OpenAI-compatible /v1/embeddings endpoint (base_url, api_key, model)."

    def __init__(self, options: OpenAIEmbeddingOptions) -> None:
        super().__init__(options)
        self._api_key = options.api_key or os.environ.get("OPENAI_API_KEY")
        if not self._api_key:
            raise ConfigError(
                "embedding backend 'openai': no API key "
                "(set option api_key: ${OPENAI_API_KEY}, or export OPENAI_API_KEY)"
            )
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            opts = self.options
            kwargs: dict[str, Any] = {
                "api_key": self._api_key,
                "timeout": opts.timeout_s,
                "max_retries": opts.max_retries,
                "default_headers": opts.headers or None,
                "http_client": openai.DefaultAioHttpClient(),
            }
            if opts.base_url:
                kwargs["base_url"] = opts.base_url
            self._client = openai.AsyncOpenAI(**kwargs)
        return self._client

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in batches of ``batch_size``; vectors come back in input order."""
        opts = self.options
        client = self._get_client()
        out: list[list[float]] = []
        for start in range(0, len(texts), opts.batch_size):
            batch = list(texts[start : start + opts.batch_size])
            extra: dict[str, Any] = {}
            if opts.dimensions is not None:
                extra["dimensions"] = opts.dimensions
            response = await client.embeddings.create(
                input=batch, model=opts.model, encoding_format="float", **extra
            )
            data = sorted(response.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise ValueError(f"endpoint returned {len(data)} embeddings for {len(batch)} texts")
            out.extend([float(x) for x in d.embedding] for d in data)
        return out

    async def aclose(self) -> None:
        """Close the SDK client (and its HTTP session) if one was created."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
