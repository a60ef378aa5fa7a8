"""A refreshed price table from LiteLLM's model price data, beside the built-in one.

``chatbot-tester prices refresh`` converts LiteLLM's ``model_prices_and_context_window``
JSON (the copy shipped inside the ``litellm`` package, or a file given with ``--from``; never
a download) into our format and writes it to ``refreshed_prices_path()``. Lookups then go:
``runner.prices`` overrides, the refreshed table, the built-in table (the offline default,
used alone while no refreshed file exists).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from chatbot_tester.common.artifacts.storage import atomic_write_bytes
from chatbot_tester.common.config import Price
from chatbot_tester.errors import UsageError

__all__ = [
    "LITELLM_FILE",
    "convert_litellm",
    "litellm_source",
    "refreshed_prices",
    "refreshed_prices_path",
    "write_refreshed",
]

LITELLM_FILE = "model_prices_and_context_window_backup.json"
"""The price data file inside the ``litellm`` package."""

_CHAT_MODES = {None, "chat", "completion", "responses"}


def refreshed_prices_path() -> Path:
    """``$CHATBOT_TESTER_PRICES``, else ``$XDG_CONFIG_HOME/chatbot-tester/prices.json``."""
    explicit = os.environ.get("CHATBOT_TESTER_PRICES")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "chatbot-tester" / "prices.json"


def litellm_source() -> Path:
    """The price file shipped in the installed ``litellm`` package; UsageError without it."""
    try:
        from importlib import resources

        path = Path(str(resources.files("litellm").joinpath(LITELLM_FILE)))
    except ModuleNotFoundError:
        raise UsageError(
            "prices refresh reads LiteLLM's price data: pip install 'chatbot-tester[litellm]', "
            "or pass --from FILE (a model_prices_and_context_window.json)"
        ) from None
    if not path.is_file():
        raise UsageError(f"the installed litellm has no {LITELLM_FILE}; pass --from FILE")
    return path


def _per_million(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return round(float(value) * 1_000_000, 6)


def convert_litellm(data: dict[str, Any]) -> dict[str, Price]:
    """Chat models with an input and an output price, keyed by lower-cased model name."""
    prices: dict[str, Price] = {}
    for name, spec in data.items():
        if name == "sample_spec" or not isinstance(spec, dict):
            continue
        if spec.get("mode") not in _CHAT_MODES:
            continue
        price_in = _per_million(spec.get("input_cost_per_token"))
        price_out = _per_million(spec.get("output_cost_per_token"))
        if price_in is None or price_out is None:
            continue
        cached = _per_million(spec.get("cache_read_input_token_cost"))
        prices[name.lower()] = Price(
            input_per_million=price_in,
            output_per_million=price_out,
            cached_input_per_million=cached,
        )
    return prices


def write_refreshed(source: Path, target: Path | None = None) -> tuple[Path, int]:
    """Convert ``source`` (LiteLLM format) and write it atomically; the path and model count."""
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{source}: cannot read LiteLLM price data: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a JSON object of model -> prices")
    prices = convert_litellm(data)
    if not prices:
        raise UsageError(f"{source}: no chat model with input and output prices found")
    target = target or refreshed_prices_path()
    body = {
        "_about": f"Refreshed from LiteLLM's price data ({source.name}); USD per million tokens.",
        "models": {k: v.model_dump(exclude_none=True) for k, v in sorted(prices.items())},
    }
    atomic_write_bytes(target, json.dumps(body, indent=1).encode("utf-8"))
    return target, len(prices)


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> dict[str, Price]:
    models = json.loads(Path(path).read_text(encoding="utf-8"))["models"]
    return {name.lower(): Price.model_validate(spec) for name, spec in models.items()}


def refreshed_prices() -> dict[str, Price]:
    """The refreshed table, or ``{}`` when none was written (or it is unreadable)."""
    path = refreshed_prices_path()
    try:
        return _load(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
