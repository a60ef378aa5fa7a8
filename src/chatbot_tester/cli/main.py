"""The ``chatbot-tester`` command: a click group whose subcommands are imported lazily.

Errors become exit codes here only: ``ChatbotTesterError`` prints one line on stderr and
exits with its ``exit_code`` (2 for usage/config/input); ``--debug`` shows the traceback;
Ctrl-C exits 130; SIGTERM (143) and SIGHUP (129) stop a command the same way (cli/signals.py).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from typing import Any

import click

from chatbot_tester._version import __version__

__all__ = ["ALIASES", "COMMANDS", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("chatbot_tester.cli.run", "Run a pipeline: generate, run, evaluate, report."),
    "generate": ("chatbot_tester.cli.generate", "Build a dataset.jsonl from files or an LLM."),
    "execute": ("chatbot_tester.cli.execute", "Send a dataset to a chatbot; write results.jsonl."),
    "evaluate": (
        "chatbot_tester.cli.evaluate",
        "Score results (or re-score a run); write reports.",
    ),
    "compare": ("chatbot_tester.cli.compare", "Compare two runs with paired statistics."),
    "runs": ("chatbot_tester.cli.runs", "List, show, tag, prune and compact a workspace's runs."),
    "view": ("chatbot_tester.cli.view", "Browse a workspace's runs in a local web app."),
    "backends": ("chatbot_tester.cli.backends", "List registered backends and their options."),
    "metrics": ("chatbot_tester.cli.metrics", "List registered metrics."),
    "cache": ("chatbot_tester.cli.cache", "Inspect or clear the workspace's response cache."),
    "export": ("chatbot_tester.cli.export", "Export a run's results and scores to CSV or Parquet."),
    "prices": ("chatbot_tester.cli.prices", "Show or refresh the model price table."),
    "init": ("chatbot_tester.cli.init", "Scaffold a pipeline, sample data and a CI workflow."),
    "schema": ("chatbot_tester.cli.schema", "Print the pipeline's JSON Schema (for editors)."),
    "serve-test": (
        "chatbot_tester.cli.serve_test",
        "Start the fault-injecting OpenAI-compatible test server on 127.0.0.1.",
    ),
}
"""Subcommand name -> (module defining ``command``, one-line help)."""

ALIASES: dict[str, str] = {"gen-dataset": "generate", "runner": "execute", "evaluator": "evaluate"}
"""The stage names the design uses, as aliases of the stage commands."""


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(ALIASES.get(cmd_name, cmd_name))
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = module.command
        assert isinstance(command, click.Command)
        if not any(p.name == "debug" for p in command.params):
            # `chatbot-tester CMD ... --debug` works as well as `chatbot-tester --debug CMD`;
            # main() reads the flag from argv before click runs.
            command.params.append(
                click.Option(["--debug"], is_flag=True, expose_value=False, help="Show tracebacks.")
            )
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and ALIASES.get(name, name) not in COMMANDS:
            from chatbot_tester.common.registry import did_you_mean

            hint = did_you_mean(name, [*COMMANDS, *ALIASES])
            raise click.UsageError(f"no such command '{name}' ({hint})", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            aliases = {target: alias for alias, target in ALIASES.items()}
            formatter.write_dl(
                [
                    (f"{name} ({aliases[name]})" if name in aliases else name, help_)
                    for name, (_, help_) in COMMANDS.items()
                ]
            )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="chatbot-tester")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """chatbot-tester: test chatbots and LLM applications before every release."""
    ctx.ensure_object(dict)
    debug = debug or bool(os.environ.get("CHATBOT_TESTER_DEBUG"))
    ctx.obj["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or bool(os.environ.get("CHATBOT_TESTER_DEBUG"))


def _fail(message: str, code: int, debug: bool) -> None:
    from chatbot_tester.common.text import one_line  # error messages quote untrusted data

    if debug:
        traceback.print_exc()
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def _os_error_line(exc: OSError) -> str:
    """``<file>: No space left on device (ENOSPC)``: the file first, then the OS's reason."""
    import errno

    code = errno.errorcode.get(exc.errno or 0)
    reason = (exc.strerror or str(exc)) + (f" ({code})" if code else "")
    filename = getattr(exc, "filename", None)
    return f"{filename}: {reason}" if filename else reason


def entry() -> None:
    """The ``chatbot-tester`` console script: ``main()``, then a fast exit (``fast_exit``)."""
    from chatbot_tester.cli.fast_exit import run_then_exit

    _fewer_young_collections()
    run_then_exit(main)


def _fewer_young_collections() -> None:
    """Collect the youngest generation every 10,000 net allocations instead of 700.

    Start-up creates long-lived objects by the hundred thousand (modules, classes, pydantic
    validators), none of them garbage; at the default threshold a one-sample run makes ~65
    collections while importing (~1.5% of its CPU), at this one ~30 at half the cost. Peak
    memory and a 10k-sample run's CPU were unchanged (bench/README.md, start-up section).
    """
    import gc

    _, older, oldest = gc.get_threshold()
    gc.set_threshold(10_000, older, oldest)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point (console output has registered secrets masked)."""
    from chatbot_tester.cli.masked_streams import masked_console

    with masked_console():
        return _main(argv)


def _main(argv: list[str] | None) -> Any:

    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    from chatbot_tester.cli import signals

    signals.install()
    try:
        rv = cli.main(args=args, prog_name="chatbot-tester", standalone_mode=False)
        # Non-standalone click returns ctx.exit(n)'s code instead of exiting.
        if isinstance(rv, int) and rv != 0:
            sys.exit(rv)
        return rv
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo(f"interrupted ({signals.name()})", err=True)
        sys.exit(signals.exit_code())
    except Exception as exc:
        from chatbot_tester.errors import sole_error

        inner = sole_error(exc)  # one error out of (nested) task groups is that error
        _handle(inner if isinstance(inner, Exception) else exc, debug)


def _handle(exc: Exception, debug: bool) -> None:
    """Print ``exc`` as one ``error:`` line and exit with its code (3 for a bug)."""
    from chatbot_tester.errors import ChatbotTesterError

    if isinstance(exc, click.ClickException):
        _fail(exc.format_message(), 2, debug)
    elif isinstance(exc, ChatbotTesterError):
        _fail(str(exc), exc.exit_code, debug)
    elif isinstance(exc, OSError):
        # Unwritable workspace, a path that is a file, a full disk: the environment, not a bug.
        _fail(_os_error_line(exc), 2, debug)
    else:
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            3,
            debug,
        )
