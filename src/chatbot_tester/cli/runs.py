"""``chatbot-tester runs``: list, show, tag, prune, compact and find the latest runs of a workspace.

Everything reads the run index (``common.artifacts.run_index``), which refreshes itself from
the run directories first, so the answers are never stale. The workspace is ``--workspace``
(a directory or a URL), else the one of ``--config PIPELINE``, else ``./workspace``.

A shared index (``--index-url``, ``$CHATBOT_TESTER_INDEX_URL`` or the pipeline's
``index_url``) holds the runs of many workspaces: ``list``, ``show``, ``latest`` and ``tag``
cover all of them; only a workspace named with ``--workspace`` or ``--config`` is refreshed
into it first (a scratch ``./workspace`` never leaks into a team's index), and ``prune``
deletes only its runs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.run_index import RunEntry, RunIndex
    from chatbot_tester.common.artifacts.workspace import Workspace

__all__ = ["command"]

F = TypeVar("F", bound=Callable[..., Any])
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _workspace_options(func: F) -> F:
    from chatbot_tester.cli.storage_options import storage_option

    func = storage_option(func)
    func = click.option(
        "--index-url",
        envvar="CHATBOT_TESTER_INDEX_URL",
        show_envvar=True,
        help="A shared run index: postgresql://user:password@host:port/db "
        "(default: the pipeline's index_url, else the workspace's SQLite index).",
    )(func)
    func = click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help="Use this pipeline's workspace (and its storage options).",
    )(func)
    return click.option(
        "--workspace", help="Workspace: a directory or a URL such as s3://bucket/prefix."
    )(func)


class _Target:
    """What a ``runs`` command works on: the workspace (if any) and the open index."""

    def __init__(
        self,
        workspace: str | None,
        config_path: Path | None,
        index_url: str | None,
        storage_options: tuple[str, ...],
        *,
        need_ws: bool = False,
    ) -> None:
        from chatbot_tester.cli.storage_options import parse_storage_options
        from chatbot_tester.common.artifacts.remote_workspace import (
            config_workspace,
            open_workspace,
        )
        from chatbot_tester.common.artifacts.run_index import open_index
        from chatbot_tester.common.config import resolve_env

        self.options = parse_storage_options(storage_options)
        url = None
        if index_url:
            url = resolve_env(index_url, where="index_url")
        self.ws: Workspace | None = None
        if config_path is not None:
            from chatbot_tester.common.plugins import load_config

            config = load_config(config_path)
            self.ws = config_workspace(config, workspace, options=self.options)
            url = url or config.resolved_index_url()
        elif workspace or need_ws or not url:  # a shared index refreshes only what is named
            self.ws = open_workspace(workspace or "workspace", options=self.options or None)
        self.index: RunIndex = open_index(self.ws, url)

    @property
    def location(self) -> str:
        return self.ws.location if self.ws is not None else self.index.where

    def workspace_of(self, entry: RunEntry) -> Workspace:
        """The workspace holding ``entry`` (another one of a shared index, if reachable)."""
        import socket

        from chatbot_tester.common.artifacts.remote_store import is_url
        from chatbot_tester.common.artifacts.remote_workspace import open_workspace
        from chatbot_tester.common.artifacts.workspace import Workspace
        from chatbot_tester.errors import UsageError

        if self.ws is not None and entry.workspace in ("", self.ws.index_key):
            return self.ws
        if is_url(entry.workspace):
            return open_workspace(entry.workspace, options=self.options or None)
        host, _, path = entry.workspace.partition(":")
        if host == socket.gethostname() and Path(path).is_dir():
            return Workspace(Path(path))
        raise UsageError(
            f"run {entry.run_id} is in workspace {entry.workspace}, which this machine does "
            "not reach: run the command on that machine"
        )

    def __enter__(self) -> _Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.index.close()


def _find(index: RunIndex, ref: str) -> RunEntry:
    """The entry of run id ``ref``, ``latest``, or the newest run tagged ``ref``."""
    from chatbot_tester.common.registry import did_you_mean
    from chatbot_tester.errors import ResumeError

    entries = index.entries()
    if ref == "latest" and entries:
        return entries[-1]
    for entry in entries:
        if entry.run_id == ref:
            return entry
    tagged = [e for e in entries if ref in e.tags]
    if tagged:
        return tagged[-1]
    known = [e.run_id for e in entries]
    hint = did_you_mean(ref, known) if known else "there are no runs yet"
    where = index.ws.location if index.ws is not None and not index.shared else index.where
    raise ResumeError(f"no run '{ref}' in {where} ({hint})")


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    from chatbot_tester.errors import UsageError

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value}: expected a date or time such as 2026-12-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _line(entry: RunEntry, shared: bool = False) -> str:
    from chatbot_tester.common.text import clean_text

    verdict = {True: "passed", False: "failed", None: "-"}[entry.passed]
    first = next(iter(entry.metrics.items()), None)
    headline = "-"
    if first is not None:
        name, stats = first
        value = stats.get("pass_rate") if stats.get("pass_rate") is not None else stats.get("mean")
        headline = f"{name}={value:.3f}" if isinstance(value, float) else f"{name}=-"
    cost = "-" if entry.cost_usd is None else f"${entry.cost_usd:.4f}"
    tags = ",".join(entry.tags) or "-"
    return clean_text(
        f"{entry.run_id}  {entry.pipeline:<20} {entry.status:<11} {verdict:<6} "
        f"{entry.records:>6}  {headline:<24} {cost:>9}  {tags}"
        + (f"  {entry.workspace}" if shared else "")
    )


@click.group("runs")
def command() -> None:
    """List, show, tag, prune and compact the runs of a workspace (from its run index)."""


@command.command("list")
@_workspace_options
@click.option("--pipeline", help="Only runs of this pipeline.")
@click.option("--status", help="Only runs with this status (completed, failed, interrupted, ...).")
@click.option("--tag", help="Only runs carrying this tag.")
@click.option("--since", help="Only runs started at or after this date/time (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run, as a list.")
def list_runs(
    workspace: str | None,
    config_path: Path | None,
    index_url: str | None,
    storage_options: tuple[str, ...],
    pipeline: str | None,
    status: str | None,
    tag: str | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Runs, oldest first: id, pipeline, status, verdict, records, headline metric, cost, tags.

    With a shared index, every workspace's runs, each line ending with its workspace.
    """
    with _Target(workspace, config_path, index_url, storage_options) as target:
        index = target.index
        entries = index.entries(pipeline=pipeline, status=status, tag=tag, since=_since(since))
    if as_json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps([e.model_dump() for e in entries]) + b"\n")
        return
    text = "\n".join(_line(e, index.shared) for e in entries)
    click.echo(text if entries else "no runs", err=not entries)


@command.command("show")
@click.argument("run")
@_workspace_options
def show(
    run: str,
    workspace: str | None,
    config_path: Path | None,
    index_url: str | None,
    storage_options: tuple[str, ...],
) -> None:
    """Everything the index knows about RUN (an id, ``latest`` or a tag), as JSON."""
    with _Target(workspace, config_path, index_url, storage_options) as target:
        entry = _find(target.index, run)
    click.echo(entry.model_dump_json(indent=2))


@command.command("latest")
@_workspace_options
@click.option("--pipeline", help="Newest run of this pipeline.")
@click.option("--tag", help="Newest run carrying this tag.")
@click.option("--evaluated", is_flag=True, help="Newest run that has a report.")
def latest(
    workspace: str | None,
    config_path: Path | None,
    index_url: str | None,
    storage_options: tuple[str, ...],
    pipeline: str | None,
    tag: str | None,
    evaluated: bool,
) -> None:
    """Print the id of the newest run (matching the filters); exit 2 when there is none."""
    from chatbot_tester.errors import ResumeError

    with _Target(workspace, config_path, index_url, storage_options) as target:
        found = target.index.entries(
            pipeline=pipeline, tag=tag, evaluated=True if evaluated else None
        )
    if not found:
        raise ResumeError(f"no matching run in {target.location}")
    click.echo(found[-1].run_id)


@command.command("tag")
@click.argument("run")
@click.argument("tags", nargs=-1, required=True)
@_workspace_options
@click.option("--remove", is_flag=True, help="Remove the tags instead of adding them.")
def tag_run(
    run: str,
    tags: tuple[str, ...],
    workspace: str | None,
    config_path: Path | None,
    index_url: str | None,
    storage_options: tuple[str, ...],
    remove: bool,
) -> None:
    """Add TAGS to RUN (or --remove them); ``evaluator.baseline: <tag>`` then finds it."""
    import orjson

    from chatbot_tester.common.artifacts.run_index import TAGS_FILE
    from chatbot_tester.errors import UsageError

    for tag in tags:
        if not _TAG.match(tag) or tag == "latest" or tag.startswith("latest:"):
            raise UsageError(
                f"tag {tag!r}: use letters, digits, '.', '_' or '-' (up to 64), not 'latest'"
            )
    with _Target(workspace, config_path, index_url, storage_options) as target:
        entry = _find(target.index, run)
        current = list(entry.tags)
        if remove:
            current = [t for t in current if t not in tags]
        else:
            current += [t for t in tags if t not in current]
        home = target.workspace_of(entry)
        home.write_run_file(entry.run_id, TAGS_FILE, orjson.dumps(current))
        target.index.record(entry.run_id, home)
    click.echo(f"{entry.run_id}: {', '.join(current) or 'no tags'}")


@command.command("prune")
@_workspace_options
@click.option("--keep", type=click.IntRange(min=0), required=True, help="Newest runs to keep.")
@click.option("--pipeline", help="Only prune runs of this pipeline.")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
def prune(
    workspace: str | None,
    config_path: Path | None,
    index_url: str | None,
    storage_options: tuple[str, ...],
    keep: int,
    pipeline: str | None,
    dry_run: bool,
) -> None:
    """Delete all but the KEEP newest runs.

    Never deleted: the baseline of a kept run (and its baseline, ...), tagged runs and
    runs still marked running. With a shared index, only the workspace's own runs.
    """
    with _Target(workspace, config_path, index_url, storage_options, need_ws=True) as target:
        ws, index = target.ws, target.index
        assert ws is not None
        everything = index.entries(workspace=ws)
        chosen = [e for e in everything if pipeline is None or e.pipeline == pipeline]
        by_id = {e.run_id: e for e in everything}
        kept = {e.run_id for e in chosen[len(chosen) - keep :]} if keep else set()
        kept |= {e.run_id for e in chosen if e.tags or e.status == "running"}
        kept |= by_id.keys() - {e.run_id for e in chosen}
        todo = list(kept)
        while todo:  # the baselines of kept runs are kept, transitively
            base = by_id.get(todo.pop())
            if base is not None and base.baseline and base.baseline not in kept:
                kept.add(base.baseline)
                todo.append(base.baseline)
        doomed = [e.run_id for e in chosen if e.run_id not in kept]
        for run_id in doomed:
            if not dry_run:
                ws.delete_run(run_id)
            click.echo(f"{'would delete' if dry_run else 'deleted'} {run_id}")
        if not dry_run:
            index.refresh()
    click.echo(
        f"{len(doomed)} run(s) {'to delete' if dry_run else 'deleted'}, kept {len(kept)}", err=True
    )


@command.command("compact")
@click.argument("run")
@_workspace_options
def compact(
    run: str,
    workspace: str | None,
    config_path: Path | None,
    index_url: str | None,
    storage_options: tuple[str, ...],
) -> None:
    """Archive a finished RUN as Parquet: results.parquet, scores.parquet, then no JSONL.

    Each Parquet file is written from its JSONL and its row count checked before the JSONL
    is deleted (extra ``parquet``). evaluate, compare, export, the viewer and ``--resume``
    read the Parquet files afterwards. A local workspace only; a running run is refused.
    """
    from chatbot_tester.common.artifacts.remote_store import is_url
    from chatbot_tester.common.artifacts.run_files import compact_run
    from chatbot_tester.common.artifacts.workspace import RESULTS, SCORES
    from chatbot_tester.common.schemas import RunRecord, Score
    from chatbot_tester.errors import UsageError

    with _Target(workspace, config_path, index_url, storage_options, need_ws=True) as target:
        entry = _find(target.index, run)
        home = target.workspace_of(entry)
        if is_url(home.location):
            raise UsageError(f"runs compact: {home.location} is remote; compact a local workspace")
        if entry.status == "running":
            raise UsageError(f"run {entry.run_id} is running: compact it once it has finished")
        run_dir = home.open_run(entry.run_id)
        with run_dir.lock():
            counts = compact_run(run_dir.path, {RESULTS: RunRecord, SCORES: Score})
    if RESULTS not in counts:
        raise UsageError(f"{run_dir.path}: no results.jsonl or results.parquet to compact")
    parts = ", ".join(f"{n.replace('.jsonl', '.parquet')} {c} rows" for n, c in counts.items())
    click.echo(f"{entry.run_id}: {parts}; the JSONL files are deleted")
