"""The openai backend against the loopback fault server (real HTTP, real SDK)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta, ToolCall
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError, ConfigError
from chatbot_tester.testing.server import FaultPlan

KEY = "sk-test-SECRETKEY-0123456789abcdefXYZ"


def req(text: str = "hello world", **extra) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="test-model", **extra)


TRANSPORTS = ["aiohttp-direct", "aiohttp", "httpx"]


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    """Every test runs against each transport: direct aiohttp calls and the SDK end to end."""
    return request.param


@pytest.fixture
async def make_backend(transport):
    made = []

    def make(srv, **options):
        options.setdefault("transport", transport)
        backend = backend_registry.create("openai", base_url=srv.base_url, api_key=KEY, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


async def collect(backend, request):
    items = [item async for item in backend.stream(request)]
    deltas = [i.text for i in items if isinstance(i, TextDelta)]
    final = items[-1]
    assert isinstance(final, ChatResponse) and all(isinstance(i, TextDelta) for i in items[:-1])
    return deltas, final


async def test_text_usage_model_and_raw(fault_server_factory, make_backend):
    srv = await fault_server_factory(cache_ratio=0.5)
    backend = make_backend(srv)
    response = await backend.send(req("what is the capital of France"))
    assert response.text == "echo: what is the capital of France"
    assert response.finish_reason == "stop" and response.model == "test-model"
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (6, 7, 13)
    assert usage.cached_tokens == 3 and usage.estimated is False
    assert response.raw["object"] == "chat.completion"


async def test_every_transport_works(fault_server, make_backend, transport):
    backend = make_backend(fault_server)
    assert backend.transport == transport
    assert (await backend.send(req("hi"))).text == "echo: hi"
    assert fault_server.last_headers["Authorization"] == f"Bearer {KEY}"


async def test_params_tools_headers_and_messages_reach_the_server(fault_server, make_backend):
    backend = make_backend(fault_server, headers={"X-Team": "qa"}, sample_id_header="X-Sample-Id")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    messages = [
        Message(role="system", content="be brief"),
        Message(role="user", content="weather?"),
        Message(
            role="assistant",
            content="",
            tool_calls=[ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"})],
        ),
        Message(role="tool", content="sunny", tool_call_id="c1"),
        Message(role="user", content="thanks"),
    ]
    request = ChatRequest(
        messages=messages,
        model="m",
        params={"temperature": 0, "seed": 3, "max_tokens": 20, "custom_flag": True},
        tools=tools,
        sample_id="sample-42",
    )
    assert (await backend.send(request)).text == "echo: thanks"
    body = fault_server.last_body
    assert body["temperature"] == 0 and body["seed"] == 3 and body["max_tokens"] == 20
    assert body["custom_flag"] is True and body["tools"] == tools
    assert body["messages"][2]["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        }
    ]
    assert body["messages"][3] == {"role": "tool", "content": "sunny", "tool_call_id": "c1"}
    assert fault_server.last_headers["X-Team"] == "qa"
    assert fault_server.stats.attempts == {"sample-42": 1}


def tool_responder(messages):
    text = messages[-1]["content"]
    if "bad" in text:
        return {"tool_calls": [{"id": "t9", "name": "broken", "arguments": "{not json"}]}
    if "weather" in text:
        return {
            "content": "checking",
            "tool_calls": [
                {"id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}},
                {"id": "t2", "name": "get_time", "arguments": {"tz": "CET"}},
            ],
        }
    return "plain"


async def test_tool_calls_are_parsed(fault_server_factory, make_backend):
    backend = make_backend(await fault_server_factory(responder=tool_responder))
    response = await backend.send(req("weather in Paris"))
    assert response.finish_reason == "tool_calls" and response.text == "checking"
    assert response.tool_calls == [
        ToolCall(id="t1", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="t2", name="get_time", arguments={"tz": "CET"}),
    ]
    bad = await backend.send(req("bad call"))
    assert bad.tool_calls == [ToolCall(id="t9", name="broken", arguments="{not json")]


async def test_stream_yields_deltas_then_final_with_usage(fault_server_factory, make_backend):
    backend = make_backend(await fault_server_factory(responder=tool_responder))
    deltas, final = await collect(backend, req("one two three"))
    assert deltas == ["plain"] and final.text == "plain"
    backend2 = make_backend(await fault_server_factory(cache_ratio=0.5))
    deltas, final = await collect(backend2, req("one two three"))
    assert len(deltas) == 4 and "".join(deltas) == "echo: one two three" == final.text
    assert final.usage.prompt_tokens == 3 and final.usage.completion_tokens == 4
    assert final.usage.cached_tokens == 1 and final.finish_reason == "stop"
    _, tools = await collect(backend, req("weather now"))
    assert [c.name for c in tools.tool_calls] == ["get_weather", "get_time"]
    assert (
        tools.tool_calls[0].arguments == {"city": "Paris"} and tools.finish_reason == "tool_calls"
    )


FAULTS = [
    # mode, decision, kind, status
    ("429", "rate_limited", ErrorKind.RATE_LIMITED, 429),
    ("429_ms", "rate_limited", ErrorKind.RATE_LIMITED, 429),
    ("429_date", "rate_limited", ErrorKind.RATE_LIMITED, 429),
    ("429_quota", "fatal", ErrorKind.QUOTA_EXHAUSTED, 429),
    ("401", "fatal", ErrorKind.AUTH, 401),
    ("500", "retry", ErrorKind.HTTP, 500),
    ("503", "retry", ErrorKind.HTTP, 503),
    ("error_body", "retry", ErrorKind.BAD_RESPONSE, None),
    ("truncated_json", "retry", ErrorKind.BAD_RESPONSE, None),
    ("html", "retry", ErrorKind.BAD_RESPONSE, None),
    ("reset", "retry", ErrorKind.CONNECTION, None),
]


@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize(("mode", "decision", "kind", "status"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_faults_are_classified(
    fault_server_factory, make_backend, mode, decision, kind, status, streaming
):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=(mode,), retry_after_s=30))
    backend = make_backend(srv)
    with pytest.raises(BackendError) as info:
        if streaming:
            await collect(backend, req())
        else:
            await backend.send(req())
    ec = backend.classify(info.value)
    assert (ec.decision, ec.kind, ec.status_code) == (decision, kind, status)
    if mode in ("429", "429_ms"):
        assert ec.retry_after == pytest.approx(30)
    if mode == "429_date":
        assert 27 <= ec.retry_after <= 31
    for text in (str(info.value), ec.message, repr(info.value)):
        assert KEY not in text and "SECRETKEY" not in text
    # the runner retries; the second attempt succeeds
    if streaming:
        assert (await collect(backend, req()))[1].text == "echo: hello world"
    else:
        assert (await backend.send(req())).text == "echo: hello world"


async def test_connection_refused_is_a_retryable_connection_error(
    fault_server_factory, make_backend
):
    srv = await fault_server_factory()
    backend = make_backend(srv)
    await srv.stop()
    with pytest.raises(BackendError) as info:
        await backend.send(req())
    ec = backend.classify(info.value)
    assert ec.decision == "retry" and ec.kind in (ErrorKind.CONNECTION, ErrorKind.TIMEOUT)


async def test_api_key_never_leaks(fault_server_factory, make_backend):
    def leaky(messages):
        raise RuntimeError(f"upstream rejected key {KEY}")

    srv = await fault_server_factory(responder=leaky)
    backend = make_backend(srv)
    with pytest.raises(BackendError) as info:
        await backend.send(req())
    ec = backend.classify(info.value)
    assert ec.decision == "retry" and ec.status_code == 500
    assert "upstream rejected key" in str(info.value)
    for text in (str(info.value), ec.message, repr(backend.options), str(backend.identity())):
        assert KEY not in text and "SECRETKEY" not in text

    wrong = await fault_server_factory(api_key="the-right-key-000")
    backend = make_backend(wrong)
    with pytest.raises(BackendError) as info:
        await backend.send(req())
    ec = backend.classify(info.value)
    assert (ec.decision, ec.kind) == ("fatal", ErrorKind.AUTH) and KEY not in str(
        info.value
    ) + ec.message


async def test_raw_sdk_exceptions_are_classified(fault_server_factory, make_backend):
    import openai

    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=("429_ms",), retry_after_s=2))
    backend = make_backend(srv)
    client = openai.AsyncOpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0)
    try:
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
    finally:
        await client.close()
    ec = backend.classify(info.value)
    assert (ec.decision, ec.retry_after) == ("rate_limited", 2.0)


async def test_api_key_comes_from_the_environment_at_creation(fault_server, monkeypatch, transport):
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-abcdef123456")
    backend = backend_registry.create("openai", base_url=fault_server.base_url, transport=transport)
    try:
        await backend.send(req())
        assert fault_server.last_headers["Authorization"] == "Bearer env-key-abcdef123456"
    finally:
        await backend.aclose()
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        backend_registry.create("openai")


async def test_missing_model_is_a_fatal_config_error(fault_server, make_backend):
    backend = make_backend(fault_server)
    with pytest.raises(BackendError) as info:
        await backend.send(ChatRequest(messages=[Message(role="user", content="x")]))
    assert backend.classify(info.value).decision == "fatal"
    assert info.value.kind is ErrorKind.CONFIG


async def test_azure_deployment_routing(fault_server, transport):
    backend = backend_registry.create(
        "openai",
        transport=transport,
        azure_endpoint=fault_server.url,
        azure_deployment="my-deployment",
        api_version="2024-10-21",
        api_key=KEY,
    )
    try:
        response = await backend.send(
            ChatRequest(messages=[Message(role="user", content="hi azure")])
        )
    finally:
        await backend.aclose()
    assert response.text == "echo: hi azure"
    assert fault_server.stats.endpoints == {"/openai/deployments/my-deployment/chat/completions": 1}
    assert fault_server.last_headers["api-key"] == KEY


def test_unknown_option_has_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'base_url'"):
        backend_registry.create("openai", base_ur="http://127.0.0.1:1/v1", api_key=KEY)


def test_cli_help_does_not_import_the_sdk():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from chatbot_tester.cli.main import cli\n"
        "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
        "assert CliRunner().invoke(cli, ['serve-test', '--help']).exit_code == 0\n"
        "import chatbot_tester.common.backends.openai, chatbot_tester.common.backends.anthropic\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
