"""The embedding-backend protocol, its registry and an in-process per-text cache.

An embedding backend turns texts into vectors (``embed``). Built-ins are registered lazily
(``openai`` for any OpenAI-compatible ``/v1/embeddings`` endpoint, ``sentence_transformers``
for a local model); third-party packages add theirs through the ``chatbot_tester.embeddings``
entry-point group.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar, Generic

import anyio
from pydantic import BaseModel, ConfigDict, ValidationError
from typing_extensions import TypeVar as DefaultedTypeVar

from chatbot_tester.common.backends.base import format_validation_error
from chatbot_tester.common.config import resolve_env
from chatbot_tester.common.registry import Registry
from chatbot_tester.errors import ConfigError, PluginError

__all__ = [
    "CachedEmbedder",
    "EmbeddingBackend",
    "EmbeddingOptions",
    "EmbeddingRegistry",
    "OptionsT",
    "cosine_similarity",
    "create_embedder",
    "embedding_registry",
]

Vector = list[float]


class EmbeddingOptions(BaseModel):
    """Base of every embedding backend's options: unknown options are errors."""

    model_config = ConfigDict(extra="forbid")


OptionsT = DefaultedTypeVar(
    "OptionsT", bound=EmbeddingOptions, default=EmbeddingOptions, covariant=True
)
"""The options model of a backend (``EmbeddingBackend[MyOptions]`` types ``self.options``).

Covariant: options are only read, so an ``EmbeddingBackend[MyOptions]`` is an
``EmbeddingBackend``.
"""


class EmbeddingBackend(ABC, Generic[OptionsT]):
    """Turns texts into vectors, generic over the options model.

    Subclasses set ``Options``, name it as the type parameter
    (``class MyEmbeddings(EmbeddingBackend[MyOptions])``) and implement ``embed``.
    """

    Options: ClassVar[type[EmbeddingOptions]] = EmbeddingOptions
    """Pydantic model validating the backend's options."""
    description: ClassVar[str] = ""
    """One line for listings."""

    def __init__(self, options: OptionsT) -> None:
        self.options: OptionsT = options

    @abstractmethod
    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order."""

    async def aclose(self) -> None:
        """Release clients and sessions."""
        return None


def _validate_backend(name: str, obj: object) -> type[EmbeddingBackend]:
    if not (isinstance(obj, type) and issubclass(obj, EmbeddingBackend)):
        raise PluginError(
            f"embedding backend '{name}' is not an EmbeddingBackend subclass: {obj!r}"
        )
    return obj


class EmbeddingRegistry(Registry[type[EmbeddingBackend]]):
    """Registry of embedding backend classes."""

    def __init__(self) -> None:
        super().__init__(
            "embedding backend", "chatbot_tester.embeddings", validate=_validate_backend
        )


embedding_registry = EmbeddingRegistry()
"""The one embedding-backend registry (built-ins and entry points)."""


def create_embedder(name: str, options: dict[str, Any], *, where: str = "") -> EmbeddingBackend:
    """Create backend ``name`` with ``${ENV}``-resolved, validated options (ConfigError if bad)."""
    label = where or f"embedding backend '{name}'"
    cls = embedding_registry.get(name)
    resolved = resolve_env(options, where=f"{label} options")
    try:
        opts = cls.Options.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, cls.Options, label)) from None
    return cls(opts)


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of the angle between two vectors (0 when either is all zeros)."""
    if len(a) != len(b):
        raise ValueError(f"embedding sizes differ: {len(a)} != {len(b)}")
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(y * y for y in b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return max(-1.0, min(1.0, dot / (na * nb)))


class CachedEmbedder:
    """Wraps a backend with an in-process LRU cache per text; concurrent misses share one call."""

    def __init__(self, backend: EmbeddingBackend, *, max_entries: int = 50_000) -> None:
        self.backend = backend
        self.max_entries = max_entries
        self._cache: OrderedDict[str, Vector] = OrderedDict()
        self._pending: dict[str, anyio.Event] = {}
        self.calls = 0
        """Backend calls made (for tests and diagnostics)."""

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Vectors for ``texts``, calling the backend only for texts not cached or in flight."""
        got: dict[str, Vector] = {}
        waits: list[tuple[str, anyio.Event]] = []
        todo: list[str] = []
        for t in dict.fromkeys(texts):
            cached = self._cache.get(t)
            if cached is not None:
                got[t] = cached
            elif t in self._pending:
                waits.append((t, self._pending[t]))
            else:
                todo.append(t)
        if todo:
            mine = anyio.Event()
            for t in todo:
                self._pending[t] = mine
            try:
                got.update(await self._call(todo))
            finally:
                for t in todo:
                    self._pending.pop(t, None)
                mine.set()
        retry: list[str] = []
        for t, event in waits:
            await event.wait()
            cached = self._cache.get(t)
            if cached is None:  # the other task's call failed (or the entry was evicted)
                retry.append(t)
            else:
                got[t] = cached
        if retry:
            got.update(await self._call(retry))
        return [got[t] for t in texts]

    async def _call(self, texts: list[str]) -> dict[str, Vector]:
        self.calls += 1
        vectors = await self.backend.embed(texts)
        if len(vectors) != len(texts):
            raise ValueError(f"backend returned {len(vectors)} vectors for {len(texts)} texts")
        for t, v in zip(texts, vectors, strict=True):
            self._store(t, v)
        return dict(zip(texts, vectors, strict=True))

    def _store(self, text: str, vector: Vector) -> None:
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def aclose(self) -> None:
        """Close the wrapped backend."""
        await self.backend.aclose()
