"""The per-call response size limit on the wire (issue 10): no backend reads a body whole
past ``max_response_bytes``; the call fails with ``response_too_large`` and is not retried.

Real HTTP against the loopback fault server: ``endless_body`` answers 200 and never ends
(a JSON string or an event stream growing 64 KiB at a time); an echo of a long prompt is a
body whose Content-Length is over the limit.
"""

from __future__ import annotations

import pytest

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.backends.body_limit import response_limit
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, RunRecord
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import ResponseTooLarge
from chatbot_tester.testing.server import FaultPlan

KEY = "sk-test-LIMITKEY-0123456789abcdefXYZ"
LIMIT = 256 * 1024
BACKENDS = [
    ("openai", "aiohttp-direct"),
    ("openai", "httpx"),
    ("anthropic", None),
    ("anthropic", "aiohttp-direct"),
    ("openai", "aiohttp"),
    ("http", None),
]


def req(text: str = "hello") -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="test-model")


def _create(name: str, transport: str | None, srv):
    if name == "http":
        stream = {"stream": transport} if transport else {}
        return backend_registry.create("http", url=srv.base_url + "/chat/completions", **stream)
    options = {"api_key": KEY}
    if transport is not None:
        options["transport"] = transport
    base = srv.base_url if name == "openai" else srv.url
    return backend_registry.create(name, base_url=base, **options)


@pytest.fixture(params=BACKENDS, ids=lambda p: "-".join(x for x in p if x))
async def make_backend(request):
    made = []

    def make(srv):
        backend = _create(*request.param, srv)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


async def test_an_endless_body_stops_at_the_limit(fault_server_factory, make_backend):
    srv = await fault_server_factory(FaultPlan(rate=1.0, modes=("endless_body",)))
    backend = make_backend(srv)
    with response_limit(LIMIT), pytest.raises(ResponseTooLarge) as info:
        await backend.send(req())
    assert f"over the {LIMIT}-byte limit" in str(info.value)
    decision = backend.classify(info.value)
    assert decision.kind is ErrorKind.RESPONSE_TOO_LARGE and decision.decision == "fatal"


@pytest.mark.parametrize(
    "spec", [*BACKENDS[:4], ("http", "sse")], ids=lambda p: "-".join(x for x in p if x)
)
async def test_an_endless_stream_stops_at_the_limit(fault_server_factory, spec):
    srv = await fault_server_factory(FaultPlan(rate=1.0, modes=("endless_body",)))
    backend = _create(*spec, srv)
    async with backend:
        with response_limit(LIMIT), pytest.raises(ResponseTooLarge):
            async for _ in backend.stream(req()):
                pass


async def test_an_announced_length_over_the_limit_is_refused_unread(
    fault_server_factory, make_backend
):
    srv = await fault_server_factory()
    backend = make_backend(srv)
    with response_limit(4096), pytest.raises(ResponseTooLarge):
        await backend.send(req("word " * 2000))  # the echo answer is ~10 KB
    with response_limit(4096):
        assert (await backend.send(req("short"))).text == "echo: short"  # still usable


async def test_the_call_client_records_it_once_and_does_not_retry(fault_server_factory):
    srv = await fault_server_factory(FaultPlan(rate=1.0, modes=("endless_body",)))
    backend = backend_registry.create("openai", base_url=srv.base_url, api_key=KEY)
    async with backend:
        policy = CallPolicy(timeout_s=30, retries=3, max_response_bytes=LIMIT)
        outcome = await BackendClient(backend, policy).call(req())
    assert outcome.response is None and outcome.error is not None
    assert outcome.error.kind is ErrorKind.RESPONSE_TOO_LARGE
    assert outcome.attempts == 1 and srv.stats.requests == 1


def test_a_long_answer_is_written_once_per_record() -> None:
    text = "long answer " * 500
    raw = {"choices": [{"message": {"role": "assistant", "content": text}}], "id": "c1"}
    record = RunRecord(sample_id="s1", backend="openai", response=ChatResponse(text=text, raw=raw))
    line = record.model_dump_json()
    assert line.count("long answer") == 500  # once, not twice
    back = RunRecord.model_validate_json(line)
    assert back.response is not None and back.response.text == text
    assert back.response.raw["choices"][0]["message"]["content"] == "<response.text>"
    assert back.response.raw["id"] == "c1"
    short = ChatResponse(text="hi", raw={"content": "hi"})
    assert short.model_dump()["raw"] == {"content": "hi"}  # short answers stay as they were
