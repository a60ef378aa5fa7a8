"""A tiny randomly initialised causal LM and a word-level tokenizer, built without the hub."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "the",
    "a",
    "store",
    "opens",
    "at",
    "nine",
    "closes",
    "six",
    "pm",
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
    "you",
    "today",
    "thanks",
    "order",
    "refund",
    "shipping",
    "days",
    "free",
    "over",
    "user",
    "assistant",
    "system",
    ":",
    ".",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} . {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def build_tokenizer(chat_template: str | None = CHAT_TEMPLATE):
    """Word-level tokenizer: ``<eos>`` (also the pad token) is its only special token.

    ``[UNK]`` is an ordinary word, so decoding and re-encoding any generated ids round-trips.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<eos>": 0, "[UNK]": 1}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>")
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def build_tiny_model(folder: Path, *, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """Save a 2-layer GPT-2 (hidden 32) with its tokenizer to ``folder``; return ``folder``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = build_tokenizer(chat_template)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
