"""``chatbot-tester export RUN --format csv|parquet``: results and scores as one table."""

from __future__ import annotations

from pathlib import Path

import click

from chatbot_tester.cli.storage_options import storage_option

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
    default="./workspace",
    show_default=True,
    help="Workspace holding RUN (a folder or a URL such as s3://bucket/prefix), unless RUN is a path.",
)
@storage_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write (default: export.<format> in the run directory).",
)
def command(
    run: str, fmt: str, workspace: str, storage_options: tuple[str, ...], output: Path | None
) -> None:
    """Export RUN (an id, 'latest' or a run directory) to CSV or Parquet; prints the file.

    One row per sample and repeat, with the answer, error, latency, cost and each metric's
    value, passed and reason. CSV cells that a spreadsheet would run as formulas are
    prefixed with a quote. A run archived as Parquet only (no results.jsonl) exports the same.
    """
    from chatbot_tester.cli.storage_options import parse_storage_options
    from chatbot_tester.common.artifacts.remote_workspace import open_workspace
    from chatbot_tester.evaluator.export import export_rows, write_csv, write_parquet

    options = parse_storage_options(storage_options) or None
    run_dir = open_workspace(workspace, options=options).open_run(run)
    columns, rows = export_rows(run_dir.path)
    target = output if output is not None else run_dir.path / f"export.{fmt}"
    (write_csv if fmt == "csv" else write_parquet)(target, columns, rows)
    click.echo(f"{len(rows)} rows, {len(columns)} columns", err=True)
    click.echo(str(target))
