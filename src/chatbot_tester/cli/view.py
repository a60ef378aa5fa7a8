"""``chatbot-tester view [WORKSPACE]``: serve the local web app over a workspace's runs.

Binds to 127.0.0.1 on a free port by default and prints the URL (the last line on stdout,
so scripts and tests can read it). Another address needs ``--host`` and prints a warning;
binding beyond loopback without ``--token`` asks for ``--allow-remote`` as well.
"""

from __future__ import annotations

import ipaddress
import secrets

import click

__all__ = ["command"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("view")
@click.argument("workspace", default="workspace")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port (0: any free port).")  # fmt: skip
@click.option("--token", help="Require this token (the URL printed carries it).")
@click.option("--new-token", is_flag=True, help="Generate a random token.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host without a token.")  # fmt: skip
def command(
    workspace: str, host: str, port: int, token: str | None, new_token: bool, allow_remote: bool
) -> None:
    """Serve WORKSPACE's runs, comparisons, trends and live runs on a local web page."""
    import asyncio

    from aiohttp import web

    from chatbot_tester.common.artifacts.remote_workspace import open_workspace
    from chatbot_tester.errors import UsageError
    from chatbot_tester.viewer.app import make_app

    if new_token:
        token = secrets.token_urlsafe(18)
    loopback = _is_loopback(host)
    if not loopback:
        if token is None and not allow_remote:
            raise UsageError(
                f"--host {host} exposes the workspace beyond this machine: add --token "
                "(or --new-token), or --allow-remote to do it without one"
            )
        click.echo(f"warning: serving {workspace} on {host}, reachable from the network", err=True)
    ws = open_workspace(workspace)
    if not ws.runs_dir.is_dir() and "://" not in workspace:
        raise UsageError(f"{workspace}: no runs folder here (pass the workspace directory)")
    app = make_app(ws, token=token, loopback=loopback)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
        url = f"http://{shown}:{bound[1]}/" + (f"?token={token}" if token else "")
        click.echo(f"serving {ws.location} (Ctrl-C to stop)", err=True)
        click.echo(url)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(serve())
