"""``BackendClient`` seams: exact latencies with a manual clock, str answers and prompts,
clear errors for wrong answers, ``started_at`` after the slot, the tokenizer off the loop."""

from __future__ import annotations

import asyncio

from runner_test_helpers import API_KEY

from chatbot_tester.common.backends import ChatBackend, backend_registry
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.limits import ConcurrencyLimit
from chatbot_tester.common.calls.policy import CallLimits, CallPolicy
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, utcnow
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.testing import FunctionBackend, ManualClock


async def test_a_manual_clock_makes_latency_exact() -> None:
    clock = ManualClock(100.0)

    async def answer(prompt: str) -> str:
        clock.advance(0.25)
        return prompt.upper()

    client = BackendClient(FunctionBackend(answer), CallPolicy(retries=0), clock=clock)
    out = await client.call("hello")
    assert out.ok and out.response is not None and out.response.text == "HELLO"
    assert out.latency_ms == 250.0


async def test_function_backend_takes_sync_callables_and_requests() -> None:
    seen: list[ChatRequest] = []

    def answer(request: ChatRequest) -> ChatResponse:
        seen.append(request)
        return ChatResponse(text=f"{len(request.messages)} message(s)")

    backend = FunctionBackend(answer)
    out = await BackendClient(backend).call("hi")
    assert out.response is not None and out.response.text == "1 message(s)"
    assert seen[0].messages[0].role == "user" and seen[0].messages[0].content == "hi"
    assert backend.calls == seen


class PlainStrBot(ChatBackend):
    async def send(self, request: ChatRequest) -> ChatResponse:
        return f"echo: {request.messages[-1].content}"  # type: ignore[return-value]


class WrongBot(ChatBackend):
    name = "wrong-bot"

    async def send(self, request: ChatRequest) -> ChatResponse:
        return 42  # type: ignore[return-value]


async def test_a_str_answer_is_wrapped_and_a_str_prompt_accepted() -> None:
    from chatbot_tester.common.backends.base import BackendOptions

    bot = PlainStrBot(BackendOptions())
    direct = await bot.send("a prompt")  # type: ignore[arg-type]
    assert isinstance(direct, ChatResponse) and direct.text == "echo: a prompt"
    out = await BackendClient(bot).call("via client")
    assert out.response is not None and out.response.text == "echo: via client"


async def test_a_wrong_answer_type_is_one_clear_error_naming_the_backend() -> None:
    from chatbot_tester.common.backends.base import BackendOptions

    out = await BackendClient(WrongBot(BackendOptions()), CallPolicy(retries=0)).call("x")
    assert out.error is not None and out.error.kind is ErrorKind.BAD_RESPONSE
    assert "'wrong-bot'" in out.error.message
    assert "must return a ChatResponse or a str" in out.error.message


async def test_started_at_is_taken_after_the_concurrency_slot() -> None:
    release = asyncio.Event()
    finished: list[object] = []

    async def answer(prompt: str) -> str:
        if prompt == "first":
            await release.wait()
            finished.append(utcnow())
        return prompt

    limits = CallLimits(ConcurrencyLimit(1))
    client = BackendClient(FunctionBackend(answer), CallPolicy(retries=0), limits)
    queued_at = utcnow()
    first = asyncio.create_task(client.call("first"))
    second = asyncio.create_task(client.call("second"))
    await asyncio.sleep(0.01)
    release.set()
    one, two = await asyncio.gather(first, second)
    assert one.started_at is not None and two.started_at is not None
    assert one.started_at >= queued_at
    # The second call waited for the slot: its start is after the first answer, not before.
    assert two.started_at >= finished[0]  # type: ignore[operator]


async def test_tokenizer_loading_never_inflates_recorded_latency(
    fault_server_factory, monkeypatch
) -> None:
    import time

    import tiktoken

    from chatbot_tester.common.calls.cost import _encoding

    real = tiktoken.get_encoding

    def slow_load(name: str):  # a cold tokenizer load: 1 s of blocking work
        time.sleep(1.0)
        return real(name)

    monkeypatch.setattr(tiktoken, "get_encoding", slow_load)
    _encoding.cache_clear()  # the first call must load it again
    srv = await fault_server_factory(latency_ms=50, usage=False)
    backend = backend_registry.create("openai", base_url=srv.base_url, api_key=API_KEY)
    async with backend:
        client = BackendClient(backend, CallPolicy(timeout_s=10, retries=0))
        requests = [
            ChatRequest(messages=[Message(role="user", content=f"q {i}")], model="test-model")
            for i in range(4)
        ]
        outs = await asyncio.gather(*(client.call(r) for r in requests))
    assert all(o.usage is not None and o.usage.estimated for o in outs), outs
    latencies = [o.latency_ms or 0.0 for o in outs]
    # Loading the tokenizer on the loop would add its whole load time to the in-flight calls.
    assert all(50 <= ms < 50 + 300 for ms in latencies), latencies
