"""OpenAI-compatible presets (ollama, groq, ...) against the loopback fault server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.backends.openai import OpenAIBackend
from chatbot_tester.common.backends.openai_wire import StreamAccumulator
from chatbot_tester.common.backends.preset_table import PRESETS
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.errors import ConfigError

NAMES = [
    "ollama",
    "vllm",
    "lmstudio",
    "llamacpp",
    "tgi",
    "openrouter",
    "together",
    "groq",
    "mistral",
    "deepseek",
]
KEY = "gsk-test-0123456789abcdefSECRET"
OPENAI_KEY = "sk-openai-must-never-travel-0123456789"


def req(text: str = "hello there") -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="llama3.2")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for preset in PRESETS.values():
        for name in (preset.key_env, preset.base_url_env, preset.host_env):
            if name:
                monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-of-openai")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-of-openai")


async def stream_all(backend, request):
    items = [item async for item in backend.stream(request)]
    assert isinstance(items[-1], ChatResponse)
    return [i.text for i in items if isinstance(i, TextDelta)], items[-1]


def test_every_preset_is_a_registered_openai_backend() -> None:
    assert set(NAMES) == set(PRESETS)
    for name in NAMES:
        assert name in backend_registry.names()
        cls = backend_registry.get(name)
        assert issubclass(cls, OpenAIBackend) and cls.supports_streaming
        assert PRESETS[name].base_url in cls.description


def test_backends_command_lists_and_describes_presets() -> None:
    from chatbot_tester.cli.backends import command

    res = CliRunner().invoke(command, ["--json"])
    assert res.exit_code == 0
    names = {row["name"] for row in json.loads(res.output)}
    assert set(NAMES) <= names
    res = CliRunner().invoke(command, ["ollama"])
    assert res.exit_code == 0
    assert "http://localhost:11434/v1" in res.output and "OLLAMA_BASE_URL" in res.output
    assert "groq" not in res.output
    (row,) = json.loads(CliRunner().invoke(command, ["ollama", "--json"]).output)
    assert "preset_base_url_check" in {o["name"] for o in row["options"]}


async def test_ollama_with_only_a_model_uses_the_env_base_url(
    fault_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", fault_server.base_url)
    async with backend_registry.create("ollama") as backend:
        assert backend.opts.base_url == fault_server.base_url
        response = await backend.send(req())
        assert response.text == "echo: hello there" and response.usage is not None
        deltas, final = await stream_all(backend, req("stream me"))
        assert "".join(deltas) == final.text == "echo: stream me"
        assert final.usage is not None and final.usage.completion_tokens
    # OPENAI_API_KEY belongs to OpenAI: never sent to a preset's server.
    assert OPENAI_KEY not in str(dict(fault_server.last_headers))


@pytest.mark.parametrize("transport", ["aiohttp-direct", "aiohttp", "httpx"])
async def test_no_openai_credentials_reach_a_preset(fault_server, transport: str) -> None:
    backend = backend_registry.create("vllm", base_url=fault_server.base_url, transport=transport)
    async with backend:
        assert (await backend.send(req())).text == "echo: hello there"
    sent = str(dict(fault_server.last_headers))
    assert fault_server.last_headers["Authorization"] == "Bearer no-key"
    assert OPENAI_KEY not in sent and "org-of-openai" not in sent and "proj-of-openai" not in sent


async def test_ollama_host_form_is_completed(fault_server, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{fault_server.port}")
    async with backend_registry.create("ollama") as backend:
        assert backend.opts.base_url == fault_server.base_url
        assert (await backend.send(req())).text == "echo: hello there"


def test_base_url_option_overrides_the_env(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_BASE_URL", "http://127.0.0.1:1/v1")
    backend = backend_registry.create("vllm", base_url="http://10.0.0.5:8000/v1")
    assert backend.opts.base_url == "http://10.0.0.5:8000/v1"
    assert backend_registry.create("lmstudio").opts.base_url == "http://localhost:1234/v1"


async def test_hosted_preset_sends_its_own_key(fault_server_factory, monkeypatch) -> None:
    srv = await fault_server_factory(api_key=KEY)
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    monkeypatch.setenv("GROQ_BASE_URL", srv.base_url)  # loopback http is allowed
    async with backend_registry.create("groq") as backend:
        assert (await backend.send(req())).text == "echo: hello there"
    assert srv.last_headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("name", ["openrouter", "together", "groq", "mistral", "deepseek"])
def test_hosted_preset_without_key_names_the_variable(name: str) -> None:
    env = PRESETS[name].key_env
    with pytest.raises(ConfigError) as info:
        backend_registry.create(name)
    message = str(info.value)
    assert env in message and "\n" not in message and name in message


@pytest.mark.parametrize("name", ["ollama", "vllm", "lmstudio", "llamacpp", "tgi"])
def test_local_presets_need_no_key(name: str) -> None:
    backend = backend_registry.create(name)
    assert backend.opts.base_url == PRESETS[name].base_url
    assert backend._api_key == "no-key"  # not OPENAI_API_KEY


def test_hosted_preset_refuses_plain_http_to_a_remote_host(monkeypatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    with pytest.raises(ConfigError, match="unencrypted") as info:
        backend_registry.create("groq", base_url="http://gateway.example.com/v1")
    assert "preset_base_url_check" in str(info.value)
    monkeypatch.setenv("GROQ_BASE_URL", "http://gateway.example.com/v1")
    with pytest.raises(ConfigError, match=r"\$GROQ_BASE_URL"):
        backend_registry.create("groq")
    # https to a gateway is fine, and the check can be turned off.
    backend_registry.create("groq", base_url="https://gateway.example.com/openai/v1")
    backend_registry.create(
        "groq", base_url="http://gateway.example.com/v1", preset_base_url_check=False
    )


@pytest.mark.parametrize(
    ("name", "url", "owner"),
    [
        ("ollama", "https://api.groq.com/openai/v1", "groq"),
        ("vllm", "https://api.openai.com/v1", "openai"),
        ("groq", "https://api.together.xyz/v1", "together"),
    ],
)
def test_another_providers_host_is_a_conflict(name, url, owner, monkeypatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    with pytest.raises(ConfigError, match=f"use backend: {owner}"):
        backend_registry.create(name, base_url=url)


def test_a_bad_url_from_the_env_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("TGI_BASE_URL", "localhost:8080")
    with pytest.raises(ConfigError, match=r"\$TGI_BASE_URL.*not an http"):
        backend_registry.create("tgi")


async def test_stream_options_quirk(fault_server, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    async with backend_registry.create("mistral", base_url=fault_server.base_url) as backend:
        await stream_all(backend, req())
        assert fault_server.last_body is not None and fault_server.last_body["stream"] is True
        assert "stream_options" not in fault_server.last_body
    async with backend_registry.create("vllm", base_url=fault_server.base_url) as backend:
        await stream_all(backend, req())
        assert fault_server.last_body["stream_options"] == {"include_usage": True}


def test_groq_usage_in_x_groq_is_read() -> None:
    acc = StreamAccumulator(usage_container="x_groq")
    acc.add(b'{"choices":[{"delta":{"content":"hi"}}]}')
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    acc.add(
        json.dumps(
            {"choices": [{"delta": {}, "finish_reason": "stop"}], "x_groq": {"usage": usage}}
        )
    )
    final = acc.result()
    assert final.text == "hi" and final.usage is not None and final.usage.total_tokens == 4
    plain = StreamAccumulator()
    plain.add(
        json.dumps(
            {"choices": [{"delta": {}, "finish_reason": "stop"}], "x_groq": {"usage": usage}}
        )
    )
    assert plain.result().usage is None


def test_preset_identity_carries_the_resolved_url_not_the_key(monkeypatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    ident = backend_registry.create("groq").identity()
    assert ident["backend"] == "groq"
    assert ident["options"]["base_url"] == PRESETS["groq"].base_url
    assert KEY not in json.dumps(ident)
