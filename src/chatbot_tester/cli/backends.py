"""``chatbot-tester backends``: every registered backend with its options."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["command", "describe_backends"]


def describe_backends() -> list[dict[str, Any]]:
    """Name, description, options and load status of every registered backend."""
    from chatbot_tester.cli.option_table import describe_options
    from chatbot_tester.common.backends import backend_registry

    rows: list[dict[str, Any]] = []
    for name in backend_registry.names():
        try:
            cls = backend_registry.get(name)
        except Exception as exc:  # a broken plugin is listed, not fatal
            rows.append({"name": name, "description": f"failed to load: {exc}", "options": []})
            continue
        rows.append(
            {
                "name": name,
                "description": cls.description,
                "module": cls.__module__,
                "streaming": cls.supports_streaming,
                "extra": cls.requires_extra,
                "options": describe_options(cls.Options),
            }
        )
    return rows


def select_backends(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of ``names`` only (``backends NAME``); an unknown name is a PluginError."""
    if not names:
        return rows
    from chatbot_tester.common.backends import backend_registry

    for name in names:
        backend_registry.get(name)  # did-you-mean on a typo
    return [row for row in rows if row["name"] in names]


@click.command("backends")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(names: tuple[str, ...], as_json: bool) -> None:
    """List registered backends (built-in, decorated and plugins) and their options; NAMES narrows the list."""
    rows = select_backends(describe_backends(), names)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console

    from chatbot_tester.cli.option_table import print_option_table
    from chatbot_tester.common.text import terminal_text as safe

    console = Console(soft_wrap=True)
    for row in rows:
        title = f"[bold]{safe(row['name'])}[/bold]  {safe(row['description'])}"
        if row.get("extra"):
            title += f"  (extra: {safe(row['extra'])})"
        print_option_table(console, title, row["options"])
