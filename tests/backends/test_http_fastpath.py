"""The http backend's fast path: no Jinja without a body template, headers merged once (real HTTP)."""

from __future__ import annotations

import subprocess
import sys

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.backends.http_codec import DEFAULT_BODY_TEMPLATE, compile_template
from chatbot_tester.common.backends.http_codec import template_variables as variables
from chatbot_tester.common.schemas import ChatRequest, Message


def req(text: str = "hi") -> ChatRequest:
    return ChatRequest(
        messages=[Message(role="system", content="s"), Message(role="user", content=text)],
        model="m",
        params={"temperature": 0.2, "max_tokens": 5},
        sample_id="s1",
    )


def test_no_template_engine_without_a_body_template():
    code = (
        "import asyncio, sys\n"
        "from chatbot_tester.common.backends import backend_registry\n"
        "from chatbot_tester.testing.server import FaultServer\n"
        "from chatbot_tester.common.schemas import ChatRequest, Message\n"
        "async def main():\n"
        "    async with FaultServer() as srv:\n"
        "        b = backend_registry.create('http', url=srv.base_url + '/chat/completions')\n"
        "        r = await b.send(ChatRequest(messages=[Message(role='user', content='x')], model='m'))\n"
        "        await b.aclose()\n"
        "        assert r.text == 'echo: x', r\n"
        "asyncio.run(main())\n"
        "print('jinja2.sandbox' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_default_body_is_what_the_default_template_renders(fault_server):
    backend = backend_registry.create("http", url=fault_server.base_url + "/chat/completions")
    try:
        assert (await backend.send(req("hello"))).text == "echo: hello"
    finally:
        await backend.aclose()
    rendered = compile_template(DEFAULT_BODY_TEMPLATE, "body_template").render(
        variables(req("hello"))
    )
    import orjson

    assert fault_server.last_body == orjson.loads(rendered)


async def test_option_headers_replace_defaults_case_insensitively(fault_server):
    backend = backend_registry.create(
        "http",
        url=fault_server.base_url + "/chat/completions",
        headers={"content-type": "application/json; charset=utf-8", "X-Team": "qa"},
    )
    try:
        await backend.send(req())
        await backend.send(req())  # the session's default headers are reused, not duplicated
    finally:
        await backend.aclose()
    headers = fault_server.last_headers
    assert headers.getall("Content-Type") == ["application/json; charset=utf-8"]
    assert headers.getall("X-Team") == ["qa"] and headers["Accept"] == "application/json"
