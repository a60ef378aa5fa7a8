"""`prices refresh` converts LiteLLM's price data; lookups prefer it, built-in stays the default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chatbot_tester.common.calls.cost import PriceTable, builtin_prices
from chatbot_tester.common.calls.price_refresh import convert_litellm

LITELLM = {
    "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
    "acme-chat-1": {
        "input_cost_per_token": 2e-06,
        "output_cost_per_token": 8e-06,
        "cache_read_input_token_cost": 5e-07,
        "litellm_provider": "acme",
        "mode": "chat",
    },
    "gpt-4o": {"input_cost_per_token": 9e-06, "output_cost_per_token": 9e-06, "mode": "chat"},
    "acme-embed": {"input_cost_per_token": 1e-07, "output_cost_per_token": 0, "mode": "embedding"},
    "acme-image": {"mode": "image_generation", "output_cost_per_image": 0.04},
}


def test_convert_keeps_priced_chat_models_only() -> None:
    prices = convert_litellm(LITELLM)
    assert set(prices) == {"acme-chat-1", "gpt-4o"}
    acme = prices["acme-chat-1"]
    assert (acme.input_per_million, acme.output_per_million) == (2.0, 8.0)
    assert acme.cached_input_per_million == 0.5


def test_refresh_cli_then_lookups_prefer_the_refreshed_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    from e2e_helpers import run_cli

    target = tmp_path / "prices.json"
    monkeypatch.setenv("CHATBOT_TESTER_PRICES", str(target))
    assert PriceTable().price("acme-chat-1") is None  # offline default: built-in only
    builtin_4o = builtin_prices()["gpt-4o"]

    source = tmp_path / "model_prices_and_context_window.json"
    source.write_text(json.dumps(LITELLM))
    env = {"CHATBOT_TESTER_PRICES": str(target)}
    res = run_cli("prices", "refresh", "--from", str(source), cwd=tmp_path, env=env)
    assert res.code == 0, res.stderr
    assert res.last_line == str(target) and "2 model prices" in res.stderr
    assert PriceTable().price("acme-chat-1-2026-01") is not None  # dated names by prefix
    assert PriceTable().price("gpt-4o").input_per_million == 9.0  # refreshed before built-in
    assert PriceTable({"gpt-4o": builtin_4o}).price("gpt-4o") == builtin_4o  # overrides first
    shown = run_cli("prices", "show", "acme-chat-1", "nope-model", cwd=tmp_path, env=env)
    assert "acme-chat-1: input 2.0, output 8.0, cached 0.5" in shown.stdout
    assert "nope-model: unknown" in shown.stdout

    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    res = run_cli("prices", "refresh", "--from", str(bad), cwd=tmp_path, env=env)
    assert res.code == 2 and "expected a JSON object" in res.stderr
