"""``chatbot-tester export RUN --format csv|parquet``: results and scores as one table."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command("export")
@click.argument("run")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="Table format.",
)
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("./workspace"),
    show_default=True,
    help="Workspace holding RUN (unless RUN is a path).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write (default: export.<format> in the run directory).",
)
def command(run: str, fmt: str, workspace: Path, output: Path | None) -> None:
    """Export RUN (an id, 'latest' or a run directory) to CSV or Parquet; prints the file.

    One row per sample and repeat, with the answer, error, latency, cost and each metric's
    value, passed and reason. CSV cells that a spreadsheet would run as formulas are
    prefixed with a quote.
    """
    from chatbot_tester.common.artifacts.workspace import Workspace
    from chatbot_tester.evaluator.export import export_rows, write_csv, write_parquet

    run_dir = Workspace(workspace).open_run(run)
    columns, rows = export_rows(run_dir.path)
    target = output if output is not None else run_dir.path / f"export.{fmt}"
    (write_csv if fmt == "csv" else write_parquet)(target, columns, rows)
    click.echo(f"{len(rows)} rows, {len(columns)} columns", err=True)
    click.echo(str(target))
