"""``chatbot-tester metrics``: every registered metric with its description and options."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["command", "describe_metrics"]


def describe_metrics(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Name, description, origin and options of every registered metric (or of ``names``)."""
    from chatbot_tester.cli.option_table import describe_options
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
                "options": describe_options(cls.Options),
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
    from rich.table import Table

    from chatbot_tester.cli.option_table import print_option_table
    from chatbot_tester.common.text import terminal_text as escape

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
        print_option_table(console, title, row["options"])
