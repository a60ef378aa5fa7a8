"""Finding and loading the ``transformers`` backend's model: options, checks, the load itself.

Everything but ``load_model`` is cheap and imports neither torch nor transformers (unless an
accelerator is asked for by name), so creating the backend and ``--dry-run`` stay fast;
``load_model`` runs in a worker thread from ``TransformersBackend.start``.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from chatbot_tester.common.backends.base import BackendOptions
from chatbot_tester.errors import ConfigError, PluginError

__all__ = [
    "MISSING_EXTRA",
    "NAME",
    "Loaded",
    "TransformersOptions",
    "check_device",
    "check_installed",
    "load_model",
    "resolve_source",
]

MISSING_EXTRA = (
    "backend 'transformers' needs the 'local' extra and PyTorch: "
    "pip install 'chatbot-tester[local]' torch"
)
NAME = "backend 'transformers'"
_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


class TransformersOptions(BackendOptions):
    """Options of the ``transformers`` backend."""

    path: Path | None = None
    """Folder of a saved model and tokenizer (``save_pretrained``), relative to the pipeline file."""
    model_id: str | None = None
    """A Hugging Face model id already in the local cache (e.g. ``Qwen/Qwen2.5-0.5B-Instruct``)."""
    revision: str | None = None
    """Revision (branch, tag or commit) of ``model_id``."""
    allow_download: bool = False
    """Let transformers download ``model_id`` when it is not cached (default: never go online)."""
    device: str = "cpu"
    """``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (cuda, then mps, then cpu)."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """Weights dtype; ``auto``: float32 on cpu, the checkpoint's dtype on a GPU."""
    chat_template: str | None = None
    """Jinja chat template to use instead of the tokenizer's (required when it has none)."""
    max_new_tokens: int = Field(default=256, ge=1)
    """Most tokens generated per answer (``params.max_tokens`` / ``max_new_tokens`` override)."""
    temperature: float | None = Field(default=None, ge=0)
    """Sampling temperature; unset or 0: greedy decoding (deterministic)."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling: sample from the smallest set of tokens with this total probability."""
    seed: int | None = None
    """Seed for reproducible sampling: a request's answer depends only on it, the prompt and
    the repeat index, never on which requests share its batch."""
    max_batch_size: int = Field(default=8, ge=1)
    """Most concurrent requests answered by one ``generate`` call."""
    batch_wait_ms: float = Field(default=10.0, ge=0)
    """How long the oldest waiting request waits for others to share its batch."""
    trust_remote_code: bool = False
    """Allow model code shipped with the checkpoint (only for models you trust)."""

    @model_validator(mode="after")
    def _one_source(self) -> TransformersOptions:
        if (self.path is None) == (self.model_id is None):
            raise ValueError("set exactly one of 'path' (a local folder) or 'model_id'")
        device = self.device
        if device not in ("cpu", "cuda", "mps", "auto") and not (
            device.startswith("cuda:") and device[5:].isdigit()
        ):
            raise ValueError(f"device {device!r}: use cpu, cuda, cuda:N, mps or auto")
        return self


@dataclass(frozen=True)
class Loaded:
    """A loaded model with what generating needs to know about it."""

    tokenizer: Any
    model: Any
    device: str
    eos: set[int]
    """Token ids that end an answer."""
    name: str
    """The model's name in responses (the model id or the folder's name)."""
    context: int | None
    """Most tokens (prompt plus answer) the model takes, when its config says."""


def check_installed() -> None:
    """A PluginError naming the extra when transformers or torch is missing (nothing imported)."""
    for module in ("transformers", "torch"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise PluginError(MISSING_EXTRA)


def _has_chat_template(folder: Path) -> bool:
    """Whether the saved tokenizer in ``folder`` carries a chat template (read without loading)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return bool(isinstance(config, dict) and config.get("chat_template"))


def check_device(device: str) -> None:
    """A ConfigError when an explicitly requested accelerator is absent (imports torch)."""
    if device in ("cpu", "auto"):
        return
    import torch

    if device.startswith("cuda"):
        index = int(device[5:]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ConfigError(
                f"{_name_field('device')}: {device!r} is not available on this machine "
                "(no CUDA device); use device: cpu or auto"
            )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            f"{_name_field('device')}: 'mps' is not available on this machine; "
            "use device: cpu or auto"
        )


def _name_field(option: str) -> str:
    return f"{NAME}: options.{option}"


def resolve_source(options: TransformersOptions) -> str:
    """The folder (or, when downloads are allowed, the id) to load; ConfigError if absent."""
    if options.path is not None:
        folder = options.path
        if not folder.is_dir():
            raise ConfigError(
                f"{_name_field('path')}: no model folder at {folder} "
                "(save one with model.save_pretrained(...) and tokenizer.save_pretrained(...))"
            )
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"{_name_field('path')}: {folder} has no config.json; "
                "point it at a folder written by save_pretrained"
            )
    else:
        assert options.model_id is not None
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(options.model_id, "config.json", revision=options.revision)
        if not isinstance(hit, str):
            if options.allow_download:
                return options.model_id
            raise ConfigError(
                f"{_name_field('model_id')}: {options.model_id!r} is not in the local "
                "Hugging Face cache; download it once (hf download "
                f"{options.model_id}) or set allow_download: true"
            )
        folder = Path(hit).parent
    if options.chat_template is None and not _has_chat_template(folder):
        raise ConfigError(
            f"{NAME}: the tokenizer in {folder} has no chat template; "
            "set options.chat_template to a Jinja template"
        )
    return str(folder)


def load_model(options: TransformersOptions, source: str) -> Loaded:
    """Load the tokenizer and the model from ``source`` (runs in a worker thread)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    opts = options
    kwargs: dict[str, Any] = {
        "local_files_only": not opts.allow_download,
        "revision": opts.revision,
        "trust_remote_code": opts.trust_remote_code,
    }
    device = opts.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu" and torch.backends.mps.is_available():
            device = "mps"
    if opts.dtype != "auto":
        dtype: Any = getattr(torch, _DTYPES[opts.dtype])
    else:
        dtype = torch.float32 if device == "cpu" else "auto"
    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(source, **kwargs)
        model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"{NAME}: cannot load the model from {source}: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        ) from None
    model.to(device).eval()
    if opts.chat_template is not None:
        tokenizer.chat_template = opts.chat_template
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"{NAME}: the tokenizer of {source} has no chat template; "
            "set options.chat_template to a Jinja template"
        )
    tokenizer.padding_side = "left"
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    eos_ids = {eos} if isinstance(eos, int) else set(eos or ())
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif opts.max_batch_size > 1:
            raise ConfigError(
                f"{NAME}: the tokenizer of {source} has no pad or EOS token to pad "
                "batches with; set options.max_batch_size: 1"
            )
    name = opts.model_id or Path(source).name
    context = getattr(model.config, "max_position_embeddings", None)
    if not isinstance(context, int):
        limit = getattr(tokenizer, "model_max_length", None)
        context = limit if isinstance(limit, int) and limit < 10**8 else None
    return Loaded(tokenizer, model, device, eos_ids, name, context)
