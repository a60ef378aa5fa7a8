"""The ``transformers`` backend: a local causal LM (Hugging Face Transformers) as the chatbot.

The model and tokenizer come from a local folder (``save_pretrained``) or from a model id
already in the local Hugging Face cache; nothing is downloaded unless ``allow_download``.
Creating the backend only checks (extra installed, model found, chat template, device) so
``--dry-run`` and config validation stay fast; ``start`` loads the model in a worker thread
before the first call is timed. Requests are rendered with the tokenizer's chat template,
batched into shared ``generate`` calls (common/backends/transformers_batch.py) and streamed,
so time to first token is measured. Usage is counted with the model's own tokenizer; calls
cost 0 and records say ``local: true``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from chatbot_tester.common.backends.abandon import run_in_daemon_thread
from chatbot_tester.common.backends.base import (
    BackendOptions,
    ChatBackend,
    RetryDecision,
    default_classify,
)
from chatbot_tester.common.backends.transformers_batch import Batcher, Row, row_hooks, row_seed
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta, Usage
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError, ConfigError, PluginError

__all__ = ["TransformersBackend", "TransformersOptions"]

MISSING_EXTRA = (
    "backend 'transformers' needs the 'local' extra and PyTorch: "
    "pip install 'chatbot-tester[local]' torch"
)
_NAME = "backend 'transformers'"
_PARAMS = {"max_new_tokens", "max_tokens", "temperature", "top_p", "seed"}
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


def _has_chat_template(folder: Path) -> bool:
    """Whether the saved tokenizer in ``folder`` carries a chat template (read without loading)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return bool(isinstance(config, dict) and config.get("chat_template"))


def _check_device(device: str) -> None:
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
    return f"{_NAME}: options.{option}"


class TransformersBackend(ChatBackend[TransformersOptions]):
    """A local causal LM through Hugging Face Transformers (streaming and batched)."""

    Options = TransformersOptions
    description = (
        "a local Hugging Face causal LM (a folder or the local cache), batched and streamed"
    )
    supports_streaming = True
    requires_extra = "local"
    local = True

    def __init__(self, options: TransformersOptions) -> None:
        super().__init__(options)
        for module in ("transformers", "torch"):
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise PluginError(MISSING_EXTRA)
        self._source = self._resolve(options)
        _check_device(options.device)
        self._lock: asyncio.Lock | None = None
        self._loaded: dict[str, Any] | None = None
        self._batcher = Batcher(
            self._generate, options.max_batch_size, options.batch_wait_ms / 1000.0
        )

    @staticmethod
    def _resolve(options: TransformersOptions) -> str:
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
                f"{_NAME}: the tokenizer in {folder} has no chat template; "
                "set options.chat_template to a Jinja template"
            )
        return str(folder)

    def needs_model(self) -> bool:
        """The model comes from the options, never from ``runner.model``."""
        return False

    def identity(self) -> dict[str, Any]:
        """What the answers depend on (batching and device only change speed)."""
        ident = super().identity()
        for key in ("max_batch_size", "batch_wait_ms", "device", "allow_download"):
            ident["options"].pop(key, None)
        return ident

    # -- loading ------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the tokenizer and the model in a worker thread (once)."""
        if self._loaded is not None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._loaded is None:
                self._loaded = await run_in_daemon_thread(self._load)

    def _load(self) -> dict[str, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        opts = self.options
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
            tokenizer: Any = AutoTokenizer.from_pretrained(self._source, **kwargs)
            model: Any = AutoModelForCausalLM.from_pretrained(self._source, dtype=dtype, **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"{_NAME}: cannot load the model from {self._source}: "
                f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            ) from None
        model.to(device).eval()
        if opts.chat_template is not None:
            tokenizer.chat_template = opts.chat_template
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                f"{_NAME}: the tokenizer of {self._source} has no chat template; "
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
                    f"{_NAME}: the tokenizer of {self._source} has no pad or EOS token to pad "
                    "batches with; set options.max_batch_size: 1"
                )
        name = opts.model_id or Path(self._source).name
        return {
            "tokenizer": tokenizer,
            "model": model,
            "device": device,
            "eos": eos_ids,
            "name": name,
        }

    # -- generation ---------------------------------------------------------------------
    def _row(self, request: ChatRequest) -> Row:
        assert self._loaded is not None
        params = dict(request.params)
        unknown = sorted(set(params) - _PARAMS)
        if unknown:
            raise BackendError(
                f"{_NAME}: unsupported params {', '.join(unknown)} "
                f"(supported: {', '.join(sorted(_PARAMS))})",
                kind=ErrorKind.CONFIG,
                retryable=False,
            )
        opts = self.options
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        try:
            prompt = self._loaded["tokenizer"].apply_chat_template(
                messages, tools=request.tools, add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:  # the template rejects this conversation (a role it lacks)
            raise BackendError(
                f"{_NAME}: the chat template failed: {type(exc).__name__}: {exc}",
                kind=ErrorKind.CONFIG,
                retryable=False,
            ) from None
        limit = params.get("max_new_tokens", params.get("max_tokens", opts.max_new_tokens))
        seed = params.get("seed", opts.seed)
        repeat = request.variables.get("repeat", 0) if request.variables else 0
        return Row(
            prompt=str(prompt),
            max_new_tokens=int(limit),
            temperature=params.get("temperature", opts.temperature),
            top_p=params.get("top_p", opts.top_p),
            seed=None if seed is None else row_seed(int(seed), int(repeat or 0), str(prompt)),
        )

    def _generate(self, rows: list[Row]) -> None:
        """One ``generate`` call for ``rows`` (runs in a worker thread)."""
        import torch

        assert self._loaded is not None
        tokenizer, model = self._loaded["tokenizer"], self._loaded["model"]
        encoded = tokenizer(
            [row.prompt for row in rows],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(self._loaded["device"])
        prompt_len = int(encoded["input_ids"].shape[1])
        for row, count in zip(rows, encoded["attention_mask"].sum(dim=1).tolist(), strict=True):
            row.prompt_tokens = int(count)
        streamer, sampling, stopping = row_hooks(rows, tokenizer, self._loaded["eos"], prompt_len)
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        config = GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=max(row.max_new_tokens for row in rows),
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=sorted(self._loaded["eos"]) or None,
        )
        with torch.inference_mode():
            model.generate(
                **encoded,
                generation_config=config,
                logits_processor=LogitsProcessorList([sampling]),
                stopping_criteria=StoppingCriteriaList([stopping]),
                streamer=streamer,
            )
        streamer.end()

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | ChatResponse]:
        """Queue the request for the next batch; yield its text as generated, then the answer."""
        await self.start()
        row = self._row(request)
        self._batcher.submit(row)
        try:
            async for piece in row.deltas():
                yield TextDelta(text=piece)
        finally:
            if not row.done:
                row.cancelled = True
        yield self._response(row)

    async def send(self, request: ChatRequest) -> ChatResponse:
        """The whole answer (streamed internally all the same)."""
        final: ChatResponse | None = None
        async for item in self.stream(request):
            if isinstance(item, ChatResponse):
                final = item
        assert final is not None
        return final

    def _response(self, row: Row) -> ChatResponse:
        assert self._loaded is not None
        completion = len(row.ids)
        return ChatResponse(
            text=row.text,
            finish_reason=row.finish_reason,
            usage=Usage(
                prompt_tokens=row.prompt_tokens,
                completion_tokens=completion,
                total_tokens=row.prompt_tokens + completion,
            ),
            model=self._loaded["name"],
            cost_usd=0.0,
            raw={
                "local": True,
                "device": self._loaded["device"],
                "batch_size": row.batch_size,
                "generate_call": row.generate_call,
            },
        )

    def classify(self, exc: BaseException) -> RetryDecision:
        """Out of memory is worth a retry (the next batch may be smaller); other failures are not."""
        if type(exc).__name__ == "OutOfMemoryError":
            return RetryDecision("retry", ErrorKind.INTERNAL, f"{_NAME}: out of memory: {exc}")
        return default_classify(exc)

    async def aclose(self) -> None:
        """Stop the running batch and release the model."""
        await self._batcher.aclose()
        self._loaded = None
