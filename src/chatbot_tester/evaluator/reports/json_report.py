"""``report.json``: the summary dict, indented, for gates, ``compare`` and other tools."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["render_json"]


def render_json(summary: dict[str, Any]) -> bytes:
    """The summary as indented JSON bytes (NaN/inf become null; keys keep their order)."""
    return orjson.dumps(
        summary, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
    )
