"""The ``http`` backend against real servers on 127.0.0.1 (the shared FaultServer and a tiny app)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.backends.http import HTTPBackend, HTTPStatusError, compile_path
from chatbot_tester.common.schemas import ChatRequest, Message, ToolCall
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import (
    AuthError,
    BackendConnectionError,
    BackendError,
    BadResponse,
    ConfigError,
    RateLimited,
)
from chatbot_tester.testing import FaultPlan, FaultServer


def req(text: str = "hello", **kw: Any) -> ChatRequest:
    kw.setdefault("model", "test-model")  # the fault server answers 400 without one, as OpenAI
    return ChatRequest(messages=[Message(role="user", content=text)], **kw)


def http(url: str, **options: Any) -> HTTPBackend:
    backend = backend_registry.create("http", url=url, **options)
    assert isinstance(backend, HTTPBackend)
    return backend


# -- a tiny app for shapes the FaultServer does not produce -------------------------------


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    payload = {
        "answer": {"text": "ok"},
        "headers": dict(request.headers),
        "body": orjson.loads(body) if body else None,
        "path": request.path,
        "usage": {"input_tokens": 4, "output_tokens": 2},
    }
    return web.json_response(payload)


async def _shape(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind == "html":
        return web.Response(text="<html><body>Login</body></html>", content_type="text/html")
    if kind == "text":
        return web.Response(text="not json at all")
    if kind == "error":
        return web.json_response({"result": None, "error": {"message": "model overloaded"}})
    if kind == "number":
        return web.json_response({"result": 42})
    if kind == "tools":
        return web.json_response(
            {
                "result": None,
                "calls": [{"id": "c1", "function": {"name": "lookup", "arguments": '{"q": 1}'}}],
            }
        )
    if kind == "teapot":
        return web.json_response({"detail": "nope"}, status=418)
    return web.json_response({"result": "fine"})


@pytest.fixture
async def app_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", _echo)
    app.router.add_post("/shape/{kind}", _shape)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# -- OpenAI-shaped and session endpoints --------------------------------------------------


async def test_default_template_posts_openai_body_and_parses_reply() -> None:
    async with FaultServer() as srv:
        backend = http(srv.base_url + "/chat/completions")
        try:
            r = await backend.send(req("ping", model="m1", params={"temperature": 0.5}))
        finally:
            await backend.aclose()
    assert r.text == "echo: ping"
    assert r.finish_reason == "stop"
    assert (
        r.usage is not None
        and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    )
    assert r.raw["object"] == "chat.completion"


async def test_default_template_body_shape(app_url: str) -> None:
    backend = http(app_url + "/echo/x", response_path="answer.text")
    try:
        r = await backend.send(
            ChatRequest(
                messages=[
                    Message(role="system", content="be nice"),
                    Message(role="user", content='say "hi"'),
                ],
                model="gpt-x",
                params={"temperature": 0.2, "max_tokens": 5},
            )
        )
    finally:
        await backend.aclose()
    assert r.raw["body"] == {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": 'say "hi"'},
        ],
        "temperature": 0.2,
        "max_tokens": 5,
    }
    assert r.usage is not None and (
        r.usage.prompt_tokens,
        r.usage.completion_tokens,
        r.usage.total_tokens,
    ) == (4, 2, 6)


async def test_session_id_carried_across_turns() -> None:
    async with FaultServer() as srv:
        backend = http(
            srv.url + "/chat",
            body_template='{"message": {{ prompt | tojson }}, "session_id": {{ session_id | tojson }}}',
            response_path="reply",
            session_id_path="session_id",
        )
        try:
            first = await backend.send(req("hello"))
            second = await backend.send(req("again", session_id=first.session_id))
            other = await backend.send(req("new conversation"))
        finally:
            await backend.aclose()
    assert first.session_id and first.text.endswith("(turn 1)")
    assert second.session_id == first.session_id
    assert second.text.endswith("(turn 2)")
    assert other.session_id != first.session_id and other.text.endswith("(turn 1)")


async def test_template_variables_headers_and_templated_url(app_url: str) -> None:
    template = (
        '{"q": {{ prompt | tojson }}, "sid": {{ sample_id | tojson }}, "turn": {{ turn }}, '
        '"tier": {{ metadata.tier | tojson }}, "tags": {{ tags | tojson }}, "n": {{ messages | length }}}'
    )
    backend = http(
        app_url + "/echo/{{ sample_id }}",
        body_template=template,
        response_path="answer.text",
        headers={"Authorization": "Bearer sk-test-123456", "X-Tenant": "acme"},
    )
    request = req(
        "where is my order?",
        sample_id="s-7",
        variables={"turn": 2, "metadata": {"tier": "gold"}, "tags": ["orders"]},
    )
    try:
        r = await backend.send(request)
    finally:
        await backend.aclose()
    assert r.text == "ok"
    assert r.raw["path"] == "/echo/s-7"
    assert r.raw["body"] == {
        "q": "where is my order?",
        "sid": "s-7",
        "turn": 2,
        "tier": "gold",
        "tags": ["orders"],
        "n": 1,
    }
    assert r.raw["headers"]["Authorization"] == "Bearer sk-test-123456"
    assert r.raw["headers"]["X-Tenant"] == "acme"
    assert r.raw["headers"]["Content-Type"] == "application/json"
    assert "sk-test-123456" not in orjson.dumps(backend.identity()).decode()


# -- JMESPath -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    ["a", "a.b", "a.b[0].c", "a.b[-1].c", "x[1]", "missing.path", "a.b[5].c", "a.s.t"],
)
def test_fast_paths_agree_with_jmespath(expr: str) -> None:
    import jmespath

    data = {"a": {"b": [{"c": "first"}, {"c": "last"}], "s": "str"}, "x": [1, 2]}
    assert compile_path(expr, "response_path")(data) == jmespath.search(expr, data)


def test_complex_jmespath_is_supported() -> None:
    search = compile_path("outputs[?type=='text'].value | [0]", "response_path")
    assert (
        search({"outputs": [{"type": "img", "value": "x"}, {"type": "text", "value": "hi"}]})
        == "hi"
    )


async def test_tool_calls_path_and_null_text(app_url: str) -> None:
    backend = http(app_url + "/shape/tools", response_path="result", tool_calls_path="calls")
    try:
        r = await backend.send(req())
    finally:
        await backend.aclose()
    assert r.text == ""
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [("c1", "lookup", {"q": 1})]


# -- bad replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "needle"),
    [
        ("html", {}, "HTML page"),
        ("text", {}, "not JSON"),
        ("ok", {"response_path": "x.y"}, "response_path 'x.y' matched nothing"),
        ("number", {"response_path": "result"}, "matched a number, not a string"),
        ("error", {"response_path": "result", "error_path": "error.message"}, "model overloaded"),
    ],
)
async def test_unusable_200_is_bad_response(
    app_url: str, kind: str, options: dict[str, Any], needle: str
) -> None:
    backend = http(app_url + f"/shape/{kind}", **options)
    try:
        with pytest.raises(BadResponse) as info:
            await backend.send(req())
    finally:
        await backend.aclose()
    assert needle in info.value.message
    assert backend.classify(info.value).kind is ErrorKind.BAD_RESPONSE


async def test_missing_answer_message_names_the_option(app_url: str) -> None:
    backend = http(app_url + "/shape/ok", response_path="x.y")
    try:
        with pytest.raises(BadResponse, match=r"set http\.response_path"):
            await backend.send(req())
    finally:
        await backend.aclose()


async def test_fault_server_html_and_truncated_json() -> None:
    plan = FaultPlan(fail_first=1, modes=("html",))
    async with FaultServer(plan) as srv:
        backend = http(srv.base_url + "/chat/completions")
        try:
            with pytest.raises(BadResponse, match="HTML"):
                await backend.send(req("a"))
            assert (await backend.send(req("a"))).text == "echo: a"
        finally:
            await backend.aclose()
    plan = FaultPlan(fail_first=1, modes=("truncated_json",))
    async with FaultServer(plan) as srv:
        backend = http(srv.base_url + "/chat/completions")
        try:
            with pytest.raises(BadResponse, match="not JSON"):
                await backend.send(req("b"))
        finally:
            await backend.aclose()


# -- HTTP statuses ------------------------------------------------------------------------


async def test_429_is_rate_limited_with_retry_after() -> None:
    async with FaultServer(FaultPlan(fail_first=1, modes=("429",), retry_after_s=1.5)) as srv:
        backend = http(srv.base_url + "/chat/completions")
        try:
            with pytest.raises(RateLimited) as info:
                await backend.send(req("x"))
        finally:
            await backend.aclose()
    exc = info.value
    assert isinstance(exc, HTTPStatusError) and exc.status_code == 429
    decision = backend.classify(exc)
    assert decision.decision == "rate_limited"
    assert decision.retry_after == pytest.approx(1.5)


async def test_500_is_retryable_and_418_is_fatal(app_url: str) -> None:
    async with FaultServer(FaultPlan(fail_first=1, modes=("500",))) as srv:
        backend = http(srv.base_url + "/chat/completions")
        try:
            with pytest.raises(HTTPStatusError) as info:
                await backend.send(req("x"))
        finally:
            await backend.aclose()
    assert info.value.status_code == 500
    assert backend.classify(info.value).decision == "retry"
    teapot = http(app_url + "/shape/teapot", response_path="result")
    try:
        with pytest.raises(HTTPStatusError) as info:
            await teapot.send(req())
    finally:
        await teapot.aclose()
    decision = teapot.classify(info.value)
    assert (decision.decision, decision.kind, decision.status_code) == (
        "fatal",
        ErrorKind.HTTP,
        418,
    )
    assert "nope" in decision.message


async def test_401_is_auth_error_and_secret_not_in_message() -> None:
    async with FaultServer(api_key="right-key-abcdef") as srv:
        backend = http(
            srv.base_url + "/chat/completions", headers={"Authorization": "Bearer wrong-key-abcdef"}
        )
        try:
            with pytest.raises(AuthError) as info:
                await backend.send(req())
        finally:
            await backend.aclose()
    assert backend.classify(info.value).decision == "fatal"
    assert "wrong-key-abcdef" not in str(info.value)


async def test_connection_refused_is_connection_error() -> None:
    async with FaultServer() as srv:
        url = srv.base_url + "/chat/completions"
    backend = http(url)
    try:
        with pytest.raises(BackendConnectionError):
            await backend.send(req())
    finally:
        await backend.aclose()


# -- configuration errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"body_template": '{"q": {{ prompt | tojson }'}, "template syntax error"),
        ({"body_template": '{"q": {{ prompt }}}'}, "does not render valid JSON"),
        ({"body_template": '{"q": {{ promt | tojson }}}'}, "did you mean 'prompt'"),
        ({"response_path": "choices[0"}, "http.response_path: invalid JMESPath"),
        ({"url": "ftp://x"}, "option 'url': 'ftp://x' is not an http"),
        ({"timeout": 3}, "unknown option 'timeout'"),
    ],
)
def test_bad_configuration_fails_at_creation(options: dict[str, Any], needle: str) -> None:
    config = {"url": "http://127.0.0.1:9/chat", **options}
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        backend_registry.create("http", **config)


async def test_non_json_render_for_one_sample_is_a_fatal_config_error(app_url: str) -> None:
    backend = http(
        app_url + "/echo/x", body_template='{"q": {{ metadata.raw }}}', response_path="answer.text"
    )
    try:
        ok = await backend.send(req(variables={"metadata": {"raw": '"fine"'}}))
        assert ok.text == "ok"
        with pytest.raises(BackendError) as info:
            await backend.send(req(sample_id="s1", variables={"metadata": {"raw": "not json"}}))
    finally:
        await backend.aclose()
    assert info.value.kind is ErrorKind.CONFIG
    assert backend.classify(info.value).decision == "fatal"
    assert "s1" in info.value.message


@pytest.mark.parametrize(
    "request_",
    [
        req("plain"),
        ChatRequest(
            messages=[
                Message(role="system", content="sys"),
                Message(role="user", content='quotes " and unicode é'),
                Message(
                    role="assistant",
                    content="",
                    tool_calls=[ToolCall(id="t1", name="f", arguments={"a": 1})],
                ),
                Message(role="tool", content="42", tool_call_id="t1"),
            ],
            model="m",
            params={"temperature": 0.1, "stop": ["\n"], "seed": 3},
        ),
    ],
)
def test_default_body_fast_path_equals_the_template(request_: ChatRequest) -> None:
    from chatbot_tester.common.backends.http_codec import (
        DEFAULT_BODY_TEMPLATE,
        compile_template,
        default_body,
        template_variables,
    )

    rendered = compile_template(DEFAULT_BODY_TEMPLATE, "body_template").render(
        template_variables(request_)
    )
    assert orjson.loads(default_body(request_)) == orjson.loads(rendered)
