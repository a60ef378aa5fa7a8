"""``chatbot-tester init [DIR]``: scaffold a project (asks a few questions, or ``--yes``)."""

from __future__ import annotations

import re
from pathlib import Path

import click

__all__ = ["command"]

_ACTION_REF = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[A-Za-z0-9_./-]+")
"""What ``uses:`` of a workflow step takes for an action in a repository."""


def _backend_names() -> list[str]:
    """Every registered backend (built-ins, decorated, entry-point plugins)."""
    from chatbot_tester.common.backends import backend_registry

    return list(backend_registry.names())


def _ask(
    backend: str | None, model: str | None, base_url: str | None
) -> tuple[str, str | None, str | None]:
    """The interactive questions; what was given as an option is not asked.

    Input that ends before the last answer (a CI job without ``--yes``) is a usage error,
    not an interruption.
    """
    from chatbot_tester.errors import UsageError

    try:
        return _questions(backend, model, base_url)
    except click.Abort as exc:
        if isinstance(exc.__context__, EOFError):
            click.echo(err=True)  # end the unanswered prompt's line
            raise UsageError(
                "init: the input ended before every question was answered: answer them in a "
                "terminal, or pass --yes (with --backend/--model/--base-url)"
            ) from None
        raise


def _questions(
    backend: str | None, model: str | None, base_url: str | None
) -> tuple[str, str | None, str | None]:
    from chatbot_tester.cli.scaffold import BUILTIN_DEFAULTS, backend_defaults

    names = _backend_names()
    if backend is None:
        click.echo("backends: " + ", ".join(names), err=True)
        backend = click.prompt(
            "Backend", type=click.Choice(names), default="demo", show_choices=False, err=True
        )
    preset = backend_defaults(backend)
    if model is None and preset.needs_model and preset.model is None:
        model = click.prompt("Model", err=True)  # no default: an answer is required
    elif model is None and (preset.model is not None or backend not in BUILTIN_DEFAULTS):
        model = click.prompt("Model", default=preset.model or "", show_default=True, err=True)
    if base_url is None and preset.base_url is not None:
        label = "Endpoint URL" if backend == "http" else "Base URL"
        base_url = click.prompt(label, default=preset.base_url, err=True)
    return backend, model or None, base_url or None


@click.command("init")
@click.argument(
    "directory",
    required=False,
    default=".",
    type=click.Path(path_type=Path, file_okay=False),
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: take the options and defaults.")
@click.option("--backend", help="Backend of the chatbot under test (default: demo, offline).")
@click.option("--model", help="Model name (default: the backend's usual one).")
@click.option("--base-url", help="Base URL of the API (openai, anthropic) or the http endpoint.")
@click.option(
    "--action",
    metavar="OWNER/REPO@REF",
    help="The GitHub Action the workflow uses (default: chatbot-tester/chatbot-tester@v0).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def command(
    directory: Path,
    yes: bool,
    backend: str | None,
    model: str | None,
    base_url: str | None,
    action: str | None,
    force: bool,
) -> None:
    """Write a pipeline, a sample CSV, a .gitignore and a GitHub workflow into DIRECTORY.

    The pipeline points editors at its JSON Schema; with the default demo backend it runs
    offline: ``chatbot-tester init --yes && chatbot-tester run pipeline.yaml``. Existing
    files are left alone unless ``--force``.
    """
    from chatbot_tester.cli.scaffold import (
        DEFAULT_ACTION,
        ScaffoldChoice,
        backend_defaults,
        scaffold,
    )
    from chatbot_tester.common.artifacts.storage import atomic_write_text
    from chatbot_tester.common.registry import did_you_mean
    from chatbot_tester.errors import UsageError

    if yes:
        backend = backend or "demo"
    else:
        backend, model, base_url = _ask(backend, model, base_url)
    if action is not None and not _ACTION_REF.fullmatch(action):
        raise UsageError(f"--action: write OWNER/REPO@REF (or OWNER/REPO/PATH@REF), got {action!r}")
    names = _backend_names()
    if backend not in names:
        raise UsageError(f"--backend: unknown backend '{backend}' ({did_you_mean(backend, names)})")
    defaults = backend_defaults(backend)
    if defaults.needs_model and model is None and defaults.model is None:
        raise UsageError(f"--model: backend '{backend}' needs a model: pass --model NAME")
    choice = ScaffoldChoice(backend, model, base_url, action or DEFAULT_ACTION, defaults)
    files = scaffold(choice)
    existing = [rel for rel in files if (directory / rel).exists()]
    if existing and not force:
        shown = ", ".join(str(directory / rel) for rel in existing)
        raise UsageError(f"{shown} already exist(s): pass --force to overwrite")
    for rel, text in files.items():
        atomic_write_text(directory / rel, text)
        click.echo(str(directory / rel), err=True)
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(f"next: {where}chatbot-tester run pipeline.yaml", err=True)
