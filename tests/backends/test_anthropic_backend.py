"""The anthropic backend against the loopback server's /v1/messages (real HTTP, real SDK)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta, ToolCall
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError, ConfigError
from chatbot_tester.testing.server import FaultPlan

KEY = "sk-ant-SECRETKEY-0123456789abcdefXYZ"


def responder(messages):
    text = messages[-1]["content"]
    if "weather" in text:
        return {
            "content": "Let me check.",
            "tool_calls": [{"id": "tu1", "name": "get_weather", "arguments": {"city": "Rome"}}],
        }
    system = " | ".join(m["content"] for m in messages if m["role"] == "system")
    return f"[{system}] {text}" if system else f"echo: {text}"


def req(*messages: Message, **extra) -> ChatRequest:
    return ChatRequest(
        messages=list(messages) or [Message(role="user", content="hello world")],
        model="claude-test",
        **extra,
    )


@pytest.fixture
async def server(fault_server_factory):
    return await fault_server_factory(responder=responder, cache_ratio=0.5, api_key=KEY)


@pytest.fixture(params=["aiohttp", "aiohttp-direct"])
async def make_backend(request):
    """Backends on the SDK path and on the direct path: every test runs against both."""
    made = []

    def make(srv, **options):
        options.setdefault("api_key", KEY)
        options.setdefault("transport", request.param)
        backend = backend_registry.create("anthropic", base_url=srv.url, **options)
        assert backend.transport == options["transport"]
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


async def collect(backend, request):
    items = [item async for item in backend.stream(request)]
    assert isinstance(items[-1], ChatResponse) and all(isinstance(i, TextDelta) for i in items[:-1])
    return [i.text for i in items[:-1]], items[-1]


async def test_text_usage_and_key_header(server, make_backend):
    backend = make_backend(server)
    response = await backend.send(req())
    assert response.text == "echo: hello world" and response.finish_reason == "stop"
    assert response.model == "claude-test" and response.raw["type"] == "message"
    usage = response.usage
    assert (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
        usage.cached_tokens,
    ) == (2, 3, 5, 1)
    # SDK 2.x sends the key as a Bearer token; older ones used x-api-key: the server takes both
    headers = server.last_headers
    assert headers.get("x-api-key") == KEY or headers.get("Authorization") == f"Bearer {KEY}"
    assert server.last_body["max_tokens"] == 1024


async def test_system_prompt_goes_to_system_and_params_map(server, make_backend):
    backend = make_backend(server, max_tokens=64)
    request = req(
        Message(role="system", content="be brief"),
        Message(role="system", content="be kind"),
        Message(role="user", content="hi"),
        params={"temperature": 0.2, "seed": 1, "stop": "END"},
    )
    response = await backend.send(request)
    assert response.text == "[be brief\n\nbe kind] hi"
    body = server.last_body
    assert body["system"] == "be brief\n\nbe kind"
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["max_tokens"] == 64 and body["temperature"] == 0.2
    assert body["stop_sequences"] == ["END"] and "seed" not in body


async def test_base_url_with_v1_suffix_is_accepted(server, make_backend):
    backend = make_backend(server)
    backend2 = backend_registry.create("anthropic", base_url=server.base_url, api_key=KEY)
    try:
        assert (await backend2.send(req())).text == (await backend.send(req())).text
    finally:
        await backend2.aclose()


async def test_tools_and_tool_results_are_translated(server, make_backend):
    backend = make_backend(server)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "w",
                "parameters": {"type": "object"},
            },
        }
    ]
    response = await backend.send(req(Message(role="user", content="weather in Rome"), tools=tools))
    assert response.finish_reason == "tool_calls" and response.text == "Let me check."
    assert response.tool_calls == [
        ToolCall(id="tu1", name="get_weather", arguments={"city": "Rome"})
    ]
    assert server.last_body["tools"] == [
        {"name": "get_weather", "input_schema": {"type": "object"}, "description": "w"}
    ]
    follow_up = req(
        Message(role="user", content="weather in Rome"),
        Message(role="assistant", content="", tool_calls=response.tool_calls),
        Message(role="tool", content="sunny", tool_call_id="tu1"),
        Message(role="user", content="thanks"),
    )
    await backend.send(follow_up)
    messages = server.last_body["messages"]
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "tu1", "name": "get_weather", "input": {"city": "Rome"}}
    ]
    assert messages[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": "sunny"}],
    }


async def test_stream_deltas_final_usage_and_tools(server, make_backend):
    backend = make_backend(server)
    deltas, final = await collect(backend, req(Message(role="user", content="one two three")))
    assert len(deltas) == 4 and "".join(deltas) == final.text == "echo: one two three"
    assert final.usage.completion_tokens == 4 and final.usage.prompt_tokens == 3
    assert final.usage.cached_tokens == 1 and final.finish_reason == "stop"
    _, tools = await collect(backend, req(Message(role="user", content="weather")))
    assert tools.tool_calls == [ToolCall(id="tu1", name="get_weather", arguments={"city": "Rome"})]
    assert tools.finish_reason == "tool_calls"


FAULTS = [
    ("429", "rate_limited", ErrorKind.RATE_LIMITED),
    ("429_ms", "rate_limited", ErrorKind.RATE_LIMITED),
    ("429_quota", "fatal", ErrorKind.QUOTA_EXHAUSTED),
    ("401", "fatal", ErrorKind.AUTH),
    ("500", "retry", ErrorKind.HTTP),
    ("503", "retry", ErrorKind.HTTP),
    ("error_body", "retry", ErrorKind.BAD_RESPONSE),
    ("truncated_json", "retry", ErrorKind.BAD_RESPONSE),
    ("html", "retry", ErrorKind.BAD_RESPONSE),
    ("reset", "retry", ErrorKind.CONNECTION),
]


@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize(("mode", "decision", "kind"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_faults_are_classified(
    fault_server_factory, make_backend, mode, decision, kind, streaming
):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=(mode,), retry_after_s=4))
    backend = make_backend(srv)
    with pytest.raises(BackendError) as info:
        if streaming:
            await collect(backend, req())
        else:
            await backend.send(req())
    ec = backend.classify(info.value)
    assert (ec.decision, ec.kind) == (decision, kind)
    if decision == "rate_limited":
        assert ec.retry_after == pytest.approx(4)
    assert KEY not in str(info.value) + ec.message
    assert (await backend.send(req())).text == "echo: hello world"


async def test_wrong_key_is_fatal_auth_without_leaking(server, make_backend):
    backend = make_backend(server, api_key="sk-ant-WRONG-0123456789abcdefXYZ")
    with pytest.raises(BackendError) as info:
        await backend.send(req())
    ec = backend.classify(info.value)
    assert (ec.decision, ec.kind, ec.status_code) == ("fatal", ErrorKind.AUTH, 401)
    assert "WRONG" not in str(info.value) + ec.message + repr(backend.options)


def test_missing_key_without_base_url_is_a_config_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        backend_registry.create("anthropic")


def test_missing_sdk_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['anthropic'] = None  # simulate the extra not being installed\n"
        "from chatbot_tester.common.backends import backend_registry\n"
        "from chatbot_tester.errors import PluginError\n"
        "try:\n"
        "    backend_registry.create('anthropic', base_url='http://127.0.0.1:9', api_key='k')\n"
        "except PluginError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "backend 'anthropic' needs the 'anthropic' extra: pip install 'chatbot-tester[anthropic]'"
    )
