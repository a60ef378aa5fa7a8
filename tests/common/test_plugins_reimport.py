"""Importing a plugin module yourself and also listing it under ``plugins:`` registers it once."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.plugins import import_plugins
from chatbot_tester.errors import PluginError

PLUGIN = """
from chatbot_tester import ChatBackend, ChatRequest, ChatResponse, register_backend


@register_backend("reimported_bot")
class ReimportedBot(ChatBackend):
    async def send(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="hi")
"""


def test_a_module_imported_by_the_user_and_listed_in_plugins_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "reimported_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reimported_plugin")  # the user's own import
    try:
        import_plugins(["reimported_plugin.py"], tmp_path)  # the pipeline's plugins: entry
        import_plugins(["reimported_plugin"], tmp_path)  # or as a module name
        assert backend_registry.get("reimported_bot") is module.ReimportedBot
    finally:
        sys.modules.pop("reimported_plugin", None)


def test_a_different_object_under_a_taken_name_is_still_an_error() -> None:
    from chatbot_tester.common.backends import ChatBackend, register_backend

    class First(ChatBackend):
        async def send(self, request):  # type: ignore[no-untyped-def]
            return "a"

    class Second(ChatBackend):
        async def send(self, request):  # type: ignore[no-untyped-def]
            return "b"

    register_backend("taken_name_bot")(First)
    register_backend("taken_name_bot")(First)  # the same object again: a no-op
    with pytest.raises(PluginError, match="already registered"):
        register_backend("taken_name_bot")(Second)
