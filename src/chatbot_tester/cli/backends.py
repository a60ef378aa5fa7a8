"""``chatbot-tester backends``: every registered backend with its options."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["command", "describe_backends"]


def describe_backends() -> list[dict[str, Any]]:
    """Name, description, options and load status of every registered backend."""
    from pydantic_core import PydanticUndefined

    from chatbot_tester.common.backends import backend_registry

    rows: list[dict[str, Any]] = []
    for name in backend_registry.names():
        try:
            cls = backend_registry.get(name)
        except Exception as exc:  # a broken plugin is listed, not fatal
            rows.append({"name": name, "description": f"failed to load: {exc}", "options": []})
            continue
        options = []
        for field, info in cls.Options.model_fields.items():
            default = info.get_default(call_default_factory=True)
            options.append(
                {
                    "name": field,
                    "type": getattr(info.annotation, "__name__", None) or str(info.annotation),
                    "required": info.is_required(),
                    "default": None if default is PydanticUndefined else default,
                    "description": info.description or "",
                }
            )
        rows.append(
            {
                "name": name,
                "description": cls.description,
                "module": cls.__module__,
                "streaming": cls.supports_streaming,
                "extra": cls.requires_extra,
                "options": options,
            }
        )
    return rows


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json: bool) -> None:
    """List registered backends (built-in, decorated and plugins) and their options."""
    rows = describe_backends()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    for row in rows:
        title = f"[bold]{row['name']}[/bold]  {row['description']}"
        if row.get("extra"):
            title += f"  (extra: {row['extra']})"
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column("option")
        table.add_column("type")
        table.add_column("default")
        table.add_column("description")
        for opt in row["options"]:
            default = "required" if opt["required"] else repr(opt["default"])
            table.add_row(opt["name"], opt["type"], default, opt["description"])
        console.print(table)
        console.print()
