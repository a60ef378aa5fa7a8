"""``chatbot-tester schema``: the pipeline's JSON Schema, for editors and validators."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command("schema")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the schema to this file (atomically) instead of stdout.",
)
def command(output: Path | None) -> None:
    """Print the JSON Schema of pipeline.yaml, generated from the config models.

    Point an editor at it with a first line ``# yaml-language-server: $schema=PATH`` in the
    pipeline (VS Code's YAML extension then completes and validates keys).
    """
    from chatbot_tester.common.artifacts.storage import atomic_write_text
    from chatbot_tester.orchestrator.pipeline_schema import render_pipeline_schema

    text = render_pipeline_schema()
    if output is None:
        click.echo(text, nl=False)
        return
    atomic_write_text(output, text)
    click.echo(str(output))
