"""The sample-selection options of ``run`` (``--limit``, ``--sample``, ``--tags``, ...).

``selection_options`` adds the options to a command and hands it one ``SampleSelection``
(``selection=``) instead of six parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from chatbot_tester.orchestrator.selection import SampleSelection

__all__ = ["build_selection", "selection_options"]

F = TypeVar("F", bound=Callable[..., Any])

_NAMES = ("limit", "sample_ids", "tags", "exclude_tags", "filter_failing", "retry_errors")


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--tags a,b --tags c`` -> ``("a", "b", "c")``."""
    return tuple(t.strip() for v in values for t in v.split(",") if t.strip())


def build_selection(values: dict[str, Any]) -> SampleSelection:
    """The ``SampleSelection`` of the option values (``tags`` comma-separated, repeatable)."""
    from chatbot_tester.orchestrator.selection import SampleSelection

    return SampleSelection(
        limit=values["limit"],
        sample_ids=tuple(values["sample_ids"]),
        tags=_split(values["tags"]),
        exclude_tags=_split(values["exclude_tags"]),
        filter_failing=values["filter_failing"],
        retry_errors=values["retry_errors"],
    )


def selection_options(func: F) -> F:
    """Add the selection options to a click command; it receives ``selection=``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _NAMES}
        return func(selection=build_selection(values), **kwargs)

    options = [
        click.option(
            "--limit", type=click.IntRange(min=1), help="Send at most N samples (the first ones)."
        ),
        click.option(
            "--sample",
            "sample_ids",
            multiple=True,
            metavar="ID",
            help="Send only this sample (repeatable).",
        ),
        click.option(
            "--tags", multiple=True, metavar="A,B", help="Send only samples with one of these tags."
        ),
        click.option(
            "--exclude-tags",
            multiple=True,
            metavar="A,B",
            help="Leave out samples with these tags.",
        ),
        click.option(
            "--filter-failing",
            metavar="RUN",
            help="Send only the samples that failed or errored in RUN (id or 'latest').",
        ),
        click.option(
            "--retry-errors",
            metavar="RUN",
            help="Re-send only RUN's errored samples, into a new run linked to RUN.",
        ),
    ]
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]
