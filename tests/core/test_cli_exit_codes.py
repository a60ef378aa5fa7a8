"""Exit codes a command sets with ctx.exit(n) reach the shell."""

from __future__ import annotations

import click
import pytest

from chatbot_tester.cli import main as cli_main


def test_ctx_exit_code_is_propagated(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("probe")
    @click.pass_context
    def probe(ctx: click.Context) -> None:
        ctx.exit(7)

    import types

    module = types.ModuleType("ct_probe_cmd")
    module.command = probe  # type: ignore[attr-defined]
    monkeypatch.setitem(cli_main.COMMANDS, "probe", ("ct_probe_cmd", "probe"))
    monkeypatch.setitem(__import__("sys").modules, "ct_probe_cmd", module)
    with pytest.raises(SystemExit) as info:
        cli_main.main(["probe"])
    assert info.value.code == 7
