"""``chatbot-tester serve-test``: run the fault-injecting test server until Ctrl-C."""

from __future__ import annotations

import asyncio

import click

from chatbot_tester.errors import UsageError

__all__ = ["command"]


@click.command("serve-test")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port (0 = any free port).")
@click.option(
    "--latency-ms", default=0.0, show_default=True, type=float, help="Delay before each answer."
)
@click.option(
    "--fault-rate", default=0.0, show_default=True, type=float, help="Probability a request fails."
)
@click.option(
    "--faults",
    default="429,500",
    show_default=True,
    help="Comma-separated fault modes: 429, 429_date, 429_ms, 429_quota, 500, 503, reset, hang, "
    "drip, keepalive, truncated_json, error_body, html, 401, 400_model, stream_cut, "
    "stream_reset, endless_body.",
)
@click.option(
    "--fail-first",
    default=0,
    show_default=True,
    type=int,
    help="First k attempts of every conversation fail.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault decisions.")
@click.option(
    "--retry-after",
    "retry_after_s",
    default=0.05,
    show_default=True,
    type=float,
    help="Seconds announced by 429s.",
)
@click.option("--api-key", default=None, help="Require this Bearer key (or x-api-key).")
@click.option("--no-usage", is_flag=True, help="Leave token usage out of answers.")
def command(
    host: str,
    port: int,
    latency_ms: float,
    fault_rate: float,
    faults: str,
    fail_first: int,
    seed: int,
    retry_after_s: float,
    api_key: str | None,
    no_usage: bool,
) -> None:
    """Start the fault-injecting OpenAI-compatible test server; print its base URL; stop on Ctrl-C."""
    from chatbot_tester.testing.server import FaultPlan, FaultServer

    try:
        plan = FaultPlan(
            rate=fault_rate,
            modes=FaultPlan.parse_modes(faults),
            seed=seed,
            fail_first=fail_first,
            retry_after_s=retry_after_s,
        )
    except ValueError as exc:
        raise UsageError(f"serve-test: {exc}") from None
    server = FaultServer(
        plan, latency_ms=latency_ms, api_key=api_key, usage=not no_usage, host=host, port=port
    )

    async def serve() -> None:
        try:
            await server.start()
        except OSError as exc:
            raise UsageError(
                f"serve-test: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
        click.echo(f"test server listening on {server.base_url}  (Ctrl-C to stop)", err=False)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        stats = server.stats
        click.echo(
            f"stopped: {stats.requests} requests, {stats.successes} ok, faults {stats.faults}, "
            f"max in flight {stats.max_in_flight}",
            err=True,
        )
