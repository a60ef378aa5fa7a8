"""Backends from installed distributions (entry points) and from ``@register_backend``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatbot_tester.common.backends import (
    BackendOptions,
    ChatBackend,
    backend_registry,
    register_backend,
)
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message
from chatbot_tester.errors import PluginError


def req(text: str) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)])


def test_builtin_and_entry_point_backends_are_listed() -> None:
    names = backend_registry.names()
    for name in ("http", "python", "echo", "scripted", "demo", "fixture_upper"):
        assert name in names


async def test_entry_point_backend_is_created_and_answers() -> None:
    backend = backend_registry.create("fixture_upper", suffix="!")
    assert type(backend).__module__ == "ct_fixture_plugin"
    assert backend.name == "fixture_upper"
    assert (await backend.send(req("hello"))).text == "HELLO!"


def test_entry_point_backend_options_are_validated() -> None:
    from chatbot_tester.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown option 'sufix'.*did you mean 'suffix'"):
        backend_registry.create("fixture_upper", sufix="!")


class ReverseOptions(BackendOptions):
    """Options of the test backend."""

    times: int = 1
    """How often to reverse."""


@pytest.fixture
def my_llm() -> Iterator[str]:
    @register_backend("my_llm")
    class Reverse(ChatBackend):
        Options = ReverseOptions

        async def send(self, request: ChatRequest) -> ChatResponse:
            text = request.messages[-1].content
            assert isinstance(self.options, ReverseOptions)
            for _ in range(self.options.times):
                text = text[::-1]
            return ChatResponse(text=text)

    try:
        yield "my_llm"
    finally:
        backend_registry.unregister("my_llm")


async def test_decorated_backend_is_created_by_name(my_llm: str) -> None:
    assert my_llm in backend_registry.names()
    backend = backend_registry.create(my_llm)
    assert (await backend.send(req("abc"))).text == "cba"
    assert (await backend_registry.create(my_llm, times=2).send(req("abc"))).text == "abc"


def test_unknown_backend_suggests_a_name() -> None:
    with pytest.raises(PluginError, match="did you mean 'scripted'"):
        backend_registry.create("scriptd")
