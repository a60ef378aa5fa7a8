"""Requests per second of the ``transformers`` backend with and without batching.

Builds a small random GPT-2 (4 layers, hidden 128; no hub) in a temporary folder, then sends
N concurrent requests of M new tokens with ``max_batch_size`` 1 and B, and prints the wall
times, the ``generate`` calls made and the speed-up ratio from this one run.
Usage: python bench/local_batching.py [N] [B] [M]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.schemas import ChatRequest, Message

WORDS = [
    "the",
    "a",
    "store",
    "opens",
    "at",
    "nine",
    "we",
    "sell",
    "tents",
    "boots",
    "jackets",
    "yes",
    "no",
    "hello",
    "how",
    "can",
    "i",
    "help",
]


def build(folder: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<eos>": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>")
    tok.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab), n_embd=128, n_layer=4, n_head=4, bos_token_id=0, eos_token_id=0
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


async def measure(path: Path, n: int, batch: int, new_tokens: int) -> tuple[float, int]:
    backend = backend_registry.create(
        "transformers",
        path=path,
        max_new_tokens=new_tokens,
        max_batch_size=batch,
        batch_wait_ms=5,
        temperature=0.8,
        seed=1,
    )
    await backend.start()
    requests = [
        ChatRequest(messages=[Message(role="user", content=f"hello how can i help {WORDS[i % 9]}")])
        for i in range(n)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(backend.send(r) for r in requests))
    elapsed = time.perf_counter() - started
    calls = backend._batcher.generate_calls
    await backend.aclose()
    return elapsed, calls


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    b = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    m = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp) / "model")
        single, single_calls = asyncio.run(measure(path, n, 1, m))
        batched, batched_calls = asyncio.run(measure(path, n, b, m))
    print(f"{n} requests x {m} new tokens, cpu")
    print(
        f"max_batch_size=1: {single:.2f} s ({n / single:.1f} req/s, {single_calls} generate calls)"
    )
    print(
        f"max_batch_size={b}: {batched:.2f} s ({n / batched:.1f} req/s, "
        f"{batched_calls} generate calls)"
    )
    print(f"batching speed-up: {single / batched:.2f}x")


if __name__ == "__main__":
    main()
