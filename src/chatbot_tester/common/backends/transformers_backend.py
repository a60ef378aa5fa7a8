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
from collections.abc import AsyncIterator
from typing import Any

from chatbot_tester.common.backends.abandon import run_in_daemon_thread
from chatbot_tester.common.backends.base import ChatBackend, RetryDecision, default_classify
from chatbot_tester.common.backends.transformers_batch import Batcher, Row, row_hooks, row_seed
from chatbot_tester.common.backends.transformers_load import (
    NAME,
    Loaded,
    TransformersOptions,
    check_device,
    check_installed,
    load_model,
    resolve_source,
)
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, TextDelta, Usage
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError

__all__ = ["TransformersBackend", "TransformersOptions"]

_PARAMS = {"max_new_tokens", "max_tokens", "temperature", "top_p", "seed"}


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
        check_installed()
        self._source = resolve_source(options)
        check_device(options.device)
        self._lock: asyncio.Lock | None = None
        self._loaded: Loaded | None = None
        self._batcher = Batcher(
            self._generate, options.max_batch_size, options.batch_wait_ms / 1000.0
        )

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
                options, source = self.options, self._source
                self._loaded = await run_in_daemon_thread(lambda: load_model(options, source))

    # -- generation ---------------------------------------------------------------------
    def _row(self, request: ChatRequest) -> Row:
        assert self._loaded is not None
        params = dict(request.params)
        unknown = sorted(set(params) - _PARAMS)
        if unknown:
            raise BackendError(
                f"{NAME}: unsupported params {', '.join(unknown)} "
                f"(supported: {', '.join(sorted(_PARAMS))})",
                kind=ErrorKind.CONFIG,
                retryable=False,
            )
        opts = self.options
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        try:
            prompt = self._loaded.tokenizer.apply_chat_template(
                messages, tools=request.tools, add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:  # the template rejects this conversation (a role it lacks)
            raise BackendError(
                f"{NAME}: the chat template failed: {type(exc).__name__}: {exc}",
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

    def _fit_context(self, rows: list[Row]) -> list[Row]:
        """Count each prompt; cap its answer to the model's context, fail it if it cannot fit."""
        assert self._loaded is not None
        context = self._loaded.context
        prompts = [row.prompt for row in rows]
        counts = self._loaded.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        fitting: list[Row] = []
        for row, ids in zip(rows, counts, strict=True):
            row.prompt_tokens = len(ids)
            if context is not None:
                room = context - row.prompt_tokens
                if room < 1:
                    row.fail(
                        BackendError(
                            f"{NAME}: the prompt has {row.prompt_tokens} tokens, the model's "
                            f"context only {context}",
                            kind=ErrorKind.BAD_RESPONSE,
                            retryable=False,
                        )
                    )
                    continue
                row.max_new_tokens = min(row.max_new_tokens, room)
            fitting.append(row)
        return fitting

    def _generate(self, rows: list[Row]) -> None:
        """One ``generate`` call for ``rows`` (runs in a worker thread)."""
        import torch

        assert self._loaded is not None
        tokenizer, model = self._loaded.tokenizer, self._loaded.model
        rows = self._fit_context(rows)
        if not rows:
            return
        encoded = tokenizer(
            [row.prompt for row in rows],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(self._loaded.device)
        prompt_len = int(encoded["input_ids"].shape[1])
        streamer, sampling, stopping = row_hooks(rows, tokenizer, self._loaded.eos, prompt_len)
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        config = GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=max(row.max_new_tokens for row in rows),
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=sorted(self._loaded.eos) or None,
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
            model=self._loaded.name,
            cost_usd=0.0,
            raw={
                "local": True,
                "device": self._loaded.device,
                "batch_size": row.batch_size,
                "generate_call": row.generate_call,
            },
        )

    def classify(self, exc: BaseException) -> RetryDecision:
        """Out of memory is worth a retry (the next batch may be smaller); other failures are not."""
        if type(exc).__name__ == "OutOfMemoryError":
            return RetryDecision("retry", ErrorKind.INTERNAL, f"{NAME}: out of memory: {exc}")
        return default_classify(exc)

    async def aclose(self) -> None:
        """Stop the running batch and release the model."""
        await self._batcher.aclose()
        self._loaded = None
