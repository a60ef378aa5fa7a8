"""``chatbot-tester metrics``: every registered metric with its description and options."""

from __future__ import annotations

import json
import re
from typing import Any

import click

__all__ = ["command", "describe_metrics"]


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation)
    text = re.sub(r"\b(?:typing|pathlib|collections\.abc)\.", "", text)
    return text.replace("NoneType", "None")


def _describe_options(cls: Any) -> list[dict[str, Any]]:
    from pydantic_core import PydanticUndefined

    options = []
    for field, info in cls.Options.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if default is not None and not isinstance(default, (str, int, float, bool, list, dict)):
            default = str(default)
        options.append(
            {
                "name": info.alias or field,
                "type": _type_name(info.annotation),
                "required": info.is_required(),
                "default": None if default is PydanticUndefined else default,
                "description": info.description or "",
            }
        )
    return options


def describe_metrics(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Name, description, origin and options of every registered metric (or of ``names``)."""
    from chatbot_tester.evaluator.metrics import metric_registry

    rows: list[dict[str, Any]] = []
    for name in names or []:
        metric_registry.get(
            name
        )  # an unknown name asked for explicitly: PluginError with did-you-mean
    for name in names or metric_registry.names():
        try:
            cls = metric_registry.get(name)
        except Exception as exc:  # a broken plugin is listed, not fatal
            rows.append(
                {"name": name, "description": f"failed to load: {exc}", "options": [], "ok": False}
            )
            continue
        module = getattr(cls, "function", None)
        origin = getattr(module, "__module__", None) or cls.__module__
        rows.append(
            {
                "name": name,
                "description": cls.description,
                "builtin": origin.startswith("chatbot_tester."),
                "module": origin,
                "per_turn": cls.per_turn,
                "options": _describe_options(cls),
                "ok": True,
            }
        )
    return rows


@click.command("metrics")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--brief", is_flag=True, help="Names and descriptions only.")
def command(names: tuple[str, ...], as_json: bool, brief: bool) -> None:
    """List registered metrics (built-in and plugins) with their options; NAMES narrows the list."""
    rows = describe_metrics(list(names) or None)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=True)
    if brief:
        table = Table(show_edge=False)
        table.add_column("metric")
        table.add_column("description")
        for row in rows:
            label = row["name"] if row.get("builtin", True) else f"{row['name']} (plugin)"
            table.add_row(escape(label), escape(row["description"]))
        console.print(table)
        return
    for row in rows:
        title = f"[bold]{escape(row['name'])}[/bold]  {escape(row['description'])}"
        if row.get("ok") and not row.get("builtin"):
            title += f"  (plugin: {escape(row['module'])})"
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column("option")
        table.add_column("type")
        table.add_column("default")
        table.add_column("description")
        for opt in row["options"]:
            default = "required" if opt["required"] else json.dumps(opt["default"], default=str)
            table.add_row(
                escape(opt["name"]),
                escape(opt["type"]),
                escape(default),
                escape(opt["description"]),
            )
        console.print(table)
        console.print()
