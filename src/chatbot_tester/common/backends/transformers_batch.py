"""Concurrent requests to one local causal LM, batched into ``generate`` calls and streamed per row.

``Batcher`` lives on the event loop: requests wait as ``Row``s; the oldest waits at most
``batch_wait_ms`` for company (or until ``max_batch_size`` rows wait), then the batch runs
``generate`` in a worker thread, one batch at a time. Inside that call three per-row hooks:

- ``RowStreamer`` (a transformers ``BaseStreamer``) decodes each row's new tokens and hands
  the new text to that row's asyncio queue, so time to first token is measured per request;
- ``RowStopping`` ends each row at its own EOS, token limit or cancellation;
- ``RowSampling`` draws each sampled row's token from the row's own seeded generator (then
  greedy decoding picks it), so a seeded request gives the same text whatever batch it is in.

Torch and transformers are imported only by the worker-thread code, never at module import.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from chatbot_tester.common.backends.abandon import run_in_daemon_thread

__all__ = ["Batcher", "Row", "row_hooks", "row_seed"]

_END = object()
"""Queue marker: the row is finished (its fields hold the result)."""


def row_seed(seed: int, repeat: int, prompt: str) -> int:
    """The sampling seed of one request: stable across runs, different per repeat and prompt."""
    digest = hashlib.sha256(f"{seed}\0{repeat}\0{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


@dataclass(eq=False)
class Row:
    """One request in a batch: its inputs, its stream of text, and (when finished) its result."""

    prompt: str
    max_new_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    """Seed of this row's sampling generator (``None``: random); unused when greedy."""
    loop: asyncio.AbstractEventLoop | None = None
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    arrived: float = 0.0
    ids: list[int] = field(default_factory=list)
    """Generated token ids, EOS excluded."""
    text: str = ""
    sent: str = ""
    prompt_tokens: int = 0
    finish_reason: str | None = None
    batch_size: int = 0
    generate_call: int = 0
    cancelled: bool = False
    """Set from the loop when the caller gave up; the row then stops at the next step."""

    @property
    def sampled(self) -> bool:
        """True when the row samples (a temperature above 0) rather than decoding greedily."""
        return bool(self.temperature)

    @property
    def done(self) -> bool:
        """True once the row has its result (or was cancelled)."""
        return self.finish_reason is not None

    def emit(self, item: Any) -> None:
        """Hand ``item`` to the row's queue from the worker thread."""
        assert self.loop is not None
        with contextlib.suppress(RuntimeError):  # the loop closed while generating
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def finish(self, reason: str, text: str) -> None:
        """Record the result and wake the consumer (worker thread)."""
        if self.finish_reason is None:
            self.finish_reason = reason
            self.text = text
            self.emit(_END)

    def fail(self, exc: BaseException) -> None:
        """End the row with ``exc`` (worker thread or loop)."""
        if self.finish_reason is None:
            self.finish_reason = "error"
            self.emit(exc)

    async def deltas(self) -> AsyncIterator[str]:
        """The row's new text as it is generated; raises what the batch raised."""
        while True:
            item = await self.queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


def row_hooks(rows: list[Row], tokenizer: Any, eos_ids: set[int], prompt_len: int) -> Any:
    """The (streamer, logits processor, stopping criteria) of one ``generate`` call."""
    import torch
    from transformers import LogitsProcessor, StoppingCriteria
    from transformers.generation.streamers import BaseStreamer

    def decode(ids: list[int]) -> str:
        text: str = tokenizer.decode(ids, skip_special_tokens=True)
        return text

    class RowStreamer(BaseStreamer):
        def __init__(self) -> None:
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # the first call carries the prompts
                self.prompt_seen = True
                return
            for row, token in zip(rows, value.reshape(-1).tolist(), strict=True):
                if row.done:
                    continue
                if row.cancelled:
                    row.finish("cancelled", "")
                    continue
                if token in eos_ids:
                    row.finish("stop", decode(row.ids))
                    continue
                row.ids.append(token)
                text = decode(row.ids)
                # Held back while the text ends in a partial character or rewrites the past.
                grown = len(text) > len(row.sent) and text.startswith(row.sent)
                if grown and not text.endswith("\ufffd"):
                    row.emit(text[len(row.sent) :])
                    row.sent = text
                if len(row.ids) >= row.max_new_tokens:
                    row.finish("length", text)

        def end(self) -> None:
            for row in rows:
                row.finish("length", decode(row.ids))

    class RowStopping(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            generated = input_ids.shape[1] - prompt_len
            last = input_ids[:, -1].tolist()
            done = [
                row.done or row.cancelled or generated >= row.max_new_tokens or tok in eos_ids
                for row, tok in zip(rows, last, strict=True)
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    generators = [
        (torch.Generator().manual_seed(row.seed) if row.seed is not None else torch.Generator())
        if row.sampled
        else None
        for row in rows
    ]
    for gen, row in zip(generators, rows, strict=True):
        if gen is not None and row.seed is None:
            gen.seed()

    class RowSampling(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if not any(g is not None for g in generators):
                return scores
            out = scores.clone()
            for i, (row, gen) in enumerate(zip(rows, generators, strict=True)):
                if gen is None:
                    continue
                logits = scores[i].float().cpu() / float(row.temperature or 1.0)
                probs = torch.softmax(logits, dim=-1)
                if row.top_p is not None and row.top_p < 1.0:
                    ordered, order = torch.sort(probs, descending=True)
                    drop = torch.cumsum(ordered, dim=-1) - ordered > row.top_p
                    probs[order[drop]] = 0.0
                token = int(torch.multinomial(probs, 1, generator=gen).item())
                out[i] = float("-inf")
                out[i, token] = 0.0
            return out

    return RowStreamer(), RowSampling(), RowStopping()


class Batcher:
    """Queues rows on the event loop and runs them in batches through ``run_batch`` (a thread)."""

    def __init__(
        self, run_batch: Callable[[list[Row]], None], max_batch_size: int, wait_s: float
    ) -> None:
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.wait_s = wait_s
        self._pending: list[Row] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: list[Row] = []
        self.generate_calls = 0
        """``generate`` calls made so far (each row records the number of its own)."""

    def submit(self, row: Row) -> None:
        """Queue ``row``; the batch loop starts when idle."""
        loop = asyncio.get_running_loop()
        row.loop = loop
        row.arrived = loop.time()
        self._pending.append(row)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._loop())

    async def _gather(self) -> list[Row]:
        """Wait (at most ``wait_s`` after the oldest row arrived) for a full batch; take it."""
        loop = asyncio.get_running_loop()
        deadline = self._pending[0].arrived + self.wait_s
        while len(self._pending) < self.max_batch_size:
            left = deadline - loop.time()
            if left <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                break
        batch = self._pending[: self.max_batch_size]
        del self._pending[: self.max_batch_size]
        return [row for row in batch if not row.cancelled]

    async def _loop(self) -> None:
        while self._pending:
            batch = await self._gather()
            if not batch:
                continue
            self.generate_calls += 1
            for row in batch:
                row.batch_size = len(batch)
                row.generate_call = self.generate_calls
            self._running = batch
            try:
                await run_in_daemon_thread(partial(self._run_batch, batch))
            except BaseException as exc:
                for row in batch:
                    row.fail(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            finally:
                self._running = []
            for row in batch:  # a batch that returned without finishing a row is a bug
                row.fail(RuntimeError("generate ended without finishing this request"))

    async def aclose(self) -> None:
        """Cancel every waiting and running row and wait for the running batch to stop."""
        for row in self._pending:
            row.cancelled = True
            row.fail(asyncio.CancelledError())
        self._pending.clear()
        for row in self._running:
            row.cancelled = True  # generate stops at its next step
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
