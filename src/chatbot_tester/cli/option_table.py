"""The one option table of ``backends`` and ``metrics``: rows from an options model, one layout.

Descriptions come from plugins, so everything printed goes through the shared sanitiser
(escape sequences removed, rich markup escaped).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

__all__ = ["describe_options", "print_option_table"]


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation)
    text = re.sub(r"\b(?:typing|pathlib|collections\.abc)\.", "", text)
    return text.replace("NoneType", "None")


def describe_options(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Name (the YAML key), type, required, JSON-safe default and description of each option."""
    from pydantic_core import PydanticUndefined

    from chatbot_tester.common.field_docs import documented

    options = []
    for field, info in documented(model).model_fields.items():
        default = info.get_default(call_default_factory=True)
        if default is PydanticUndefined:
            default = None
        elif default is not None and not isinstance(default, (str, int, float, bool, list, dict)):
            default = str(default)
        options.append(
            {
                "name": info.alias or field,
                "type": _type_name(info.annotation),
                "required": info.is_required(),
                "default": default,
                "description": info.description or "",
            }
        )
    return options


def print_option_table(console: Console, title: str, options: list[dict[str, Any]]) -> None:
    """One table of ``describe_options`` rows under ``title`` (rich markup, already escaped)."""
    from rich.table import Table

    from chatbot_tester.common.text import terminal_text as safe

    table = Table(title=title, title_justify="left", show_edge=False)
    for column in ("option", "type", "default", "description"):
        table.add_column(column)
    for opt in options:
        default = "required" if opt["required"] else json.dumps(opt["default"], default=str)
        table.add_row(safe(opt["name"]), safe(opt["type"]), safe(default), safe(opt["description"]))
    console.print(table)
    console.print()
