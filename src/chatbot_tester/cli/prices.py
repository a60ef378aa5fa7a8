"""``chatbot-tester prices show|refresh``: the model price table and where each price comes from."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.group("prices")
def command() -> None:
    """Show the price table, or refresh it from LiteLLM's model price data (offline)."""


@command.command("refresh")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A LiteLLM model_prices_and_context_window.json (default: the installed litellm's).",
)
def refresh(source: Path | None) -> None:
    """Write the refreshed table (see ``prices show``); nothing is downloaded."""
    from chatbot_tester.common.calls.price_refresh import litellm_source, write_refreshed

    path, count = write_refreshed(source or litellm_source())
    click.echo(f"{count} model prices written; they now come before the built-in table", err=True)
    click.echo(str(path))


@command.command("show")
@click.argument("models", nargs=-1)
def show(models: tuple[str, ...]) -> None:
    """The price of each of MODELS (USD per million tokens) and its table."""
    from chatbot_tester.common.calls.cost import PriceTable, builtin_prices
    from chatbot_tester.common.calls.price_refresh import refreshed_prices, refreshed_prices_path
    from chatbot_tester.common.text import one_line

    refreshed = refreshed_prices()
    where = refreshed_prices_path()
    click.echo(
        f"refreshed table: {where} ({len(refreshed)} models)"
        if refreshed
        else f"refreshed table: none (run `prices refresh`); built-in: {len(builtin_prices())}",
        err=True,
    )
    table = PriceTable()
    for model in models:
        price = table.price(model)
        if price is None:
            click.echo(f"{one_line(model)}: unknown (add runner.prices)")
            continue
        click.echo(
            f"{one_line(model)}: input {price.input_per_million}, output {price.output_per_million}"
            + (
                f", cached {price.cached_input_per_million}"
                if price.cached_input_per_million
                else ""
            )
        )
