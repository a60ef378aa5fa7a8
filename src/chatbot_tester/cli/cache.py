"""``chatbot-tester cache info|clear``: the workspace's response and judge caches.

The workspace is ``--workspace DIR``, else the ``workspace`` of ``--pipeline FILE``, else
``./workspace`` (the pipeline default). Clearing removes ``<workspace>/cache`` and nothing
else: runs and datasets stay.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["command"]

F = TypeVar("F", bound=Callable[..., Any])


def _workspace(workspace: Path | None, pipeline: Path | None) -> Path:
    if workspace is not None:
        return workspace
    if pipeline is not None:
        from chatbot_tester.common.plugins import load_config

        config = load_config(pipeline)
        return config.resolve_path(config.workspace)
    return Path("./workspace")


def _files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*") if p.is_file()) if cache_dir.is_dir() else []


_where = [
    click.option(
        "--workspace",
        type=click.Path(path_type=Path, file_okay=False),
        help="The workspace (default: the pipeline's, else ./workspace).",
    ),
    click.option(
        "--pipeline",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help="Take the workspace from this pipeline.",
    ),
]


def _with_where(func: F) -> F:
    for option in reversed(_where):
        func = option(func)
    return func


@click.group("cache")
def command() -> None:
    """Inspect or clear the workspace's caches (responses, judge verdicts)."""


@command.command("info")
@_with_where
def info(workspace: Path | None, pipeline: Path | None) -> None:
    """One line per cache file with its size."""
    cache_dir = _workspace(workspace, pipeline) / "cache"
    files = _files(cache_dir)
    for path in files:
        click.echo(f"{path.stat().st_size:>12}  {path.relative_to(cache_dir)}")
    click.echo(f"{len(files)} files in {cache_dir}", err=True)


@command.command("clear")
@_with_where
def clear(workspace: Path | None, pipeline: Path | None) -> None:
    """Delete ``<workspace>/cache``: the next run calls the chatbot and the judge again."""
    cache_dir = _workspace(workspace, pipeline) / "cache"
    files = _files(cache_dir)
    if not cache_dir.is_dir():
        click.echo(f"nothing to clear: {cache_dir} does not exist", err=True)
        return
    size = sum(p.stat().st_size for p in files)
    shutil.rmtree(cache_dir)
    click.echo(f"cleared {len(files)} files ({size} bytes) from {cache_dir}", err=True)
