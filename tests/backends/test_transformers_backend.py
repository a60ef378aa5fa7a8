"""The ``transformers`` backend in process, on a tiny random GPT-2 built here (no hub).

Seeded answers do not depend on the batch a request lands in, a cancelled request leaves its
batch mates alone, the event loop keeps running while the model loads and generates, and
misconfiguration is a one-line ConfigError at creation.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from tiny_lm import build_tiny_model

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.errors import BackendError, ConfigError

PROMPTS = ["hello how can i help", "the store opens at nine", "we sell tents", "refund thanks"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-gpt2")


def _backend(path: Path, **options: Any) -> Any:
    return backend_registry.create("transformers", path=path, **options)


def _req(text: str, **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], **kw)


async def test_seeded_answer_is_the_same_alone_and_in_any_batch(tiny: Path) -> None:
    opts = {"max_new_tokens": 10, "temperature": 1.0, "seed": 11, "batch_wait_ms": 100}
    async with _backend(tiny, max_batch_size=4, **opts) as batched:
        together = await asyncio.gather(*(batched.send(_req(p)) for p in PROMPTS))
    async with _backend(tiny, max_batch_size=1, **opts) as single:
        alone = [await single.send(_req(p)) for p in reversed(PROMPTS)][::-1]
    assert {r.raw["batch_size"] for r in together} == {4}
    assert {r.raw["generate_call"] for r in together} == {1}
    assert {r.raw["batch_size"] for r in alone} == {1}
    assert [r.text for r in together] == [r.text for r in alone]
    # The repeat index draws a different sample from the same seed.
    async with _backend(tiny, **opts) as again:
        other = await again.send(_req(PROMPTS[0], variables={"repeat": 1}))
    assert other.text != together[0].text


async def test_greedy_is_deterministic_and_params_override_options(tiny: Path) -> None:
    async with _backend(tiny, max_new_tokens=6) as backend:
        first = await backend.send(_req(PROMPTS[1]))
        second = await backend.send(_req(PROMPTS[1]))
        short = await backend.send(_req(PROMPTS[1], params={"max_tokens": 2}))
    assert first.text == second.text and first.usage == second.usage
    assert first.usage is not None and first.usage.completion_tokens == 6
    assert short.usage is not None and short.usage.completion_tokens == 2
    assert short.finish_reason == "length" and first.text.startswith(short.text)
    assert first.cost_usd == 0.0 and first.model == "tiny-gpt2"


async def test_stream_yields_text_before_the_answer(tiny: Path) -> None:
    async with _backend(tiny, max_new_tokens=5) as backend:
        items = [item async for item in backend.stream(_req(PROMPTS[0]))]
    deltas = [i.text for i in items if isinstance(i, TextDelta)]
    final = items[-1]
    assert isinstance(final, ChatResponse) and len(deltas) >= 2
    assert "".join(deltas) == final.text


async def test_cancelled_request_leaves_its_batch_mates_alone(tiny: Path) -> None:
    async with _backend(tiny, max_new_tokens=40, max_batch_size=3, batch_wait_ms=100) as backend:
        await backend.start()
        started = asyncio.Event()

        async def first() -> None:
            async for item in backend.stream(_req(PROMPTS[0])):
                if isinstance(item, TextDelta):
                    started.set()  # the batch is generating: cancel from here
            raise AssertionError("the cancelled request ran to the end")

        tasks = [asyncio.ensure_future(first())]
        tasks += [asyncio.ensure_future(backend.send(_req(p))) for p in PROMPTS[1:3]]
        await asyncio.wait_for(started.wait(), 60)
        tasks[0].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError), done[0]
    for response in done[1:]:
        assert isinstance(response, ChatResponse) and response.usage is not None
        assert response.usage.completion_tokens == 40 or response.finish_reason == "stop"


async def test_event_loop_keeps_running_during_load_and_generate(tiny: Path) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    beat = asyncio.ensure_future(heartbeat())
    backend = _backend(tiny, max_new_tokens=60)
    started = time.perf_counter()
    await backend.start()
    await backend.send(_req(PROMPTS[2]))
    elapsed = time.perf_counter() - started
    stop.set()
    await beat
    await backend.aclose()
    # A blocked loop would tick about once; a free one every ~5 ms of the elapsed time.
    assert ticks > max(5, elapsed / 0.005 / 10)


async def test_client_loads_before_timing_and_maps_bad_params(tiny: Path) -> None:
    backend = _backend(tiny, max_new_tokens=3)
    client = BackendClient(backend, CallPolicy(retries=0))
    await client.start()
    out = await client.call(_req(PROMPTS[0]))
    assert out.response is not None and out.latency_ms is not None
    assert out.latency_ms < 5000  # the load (seconds) is not in the latency
    bad = await client.call(_req(PROMPTS[0], params={"frequency_penalty": 1}))
    assert bad.error is not None and bad.error.kind is ErrorKind.CONFIG and bad.fail_fast
    assert "frequency_penalty" in bad.error.message
    await client.aclose()


def test_bad_configuration_is_a_config_error_at_creation(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=r"options.path: no model folder at .*missing"):
        _backend(tmp_path / "missing")
    no_template = build_tiny_model(tmp_path / "plain", chat_template=None)
    with pytest.raises(ConfigError, match=r"no chat template; set options\.chat_template"):
        _backend(no_template)
    assert _backend(no_template, chat_template="{{ messages[0]['content'] }}") is not None
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache"):
        backend_registry.create("transformers", model_id="someone/not-cached")
    with pytest.raises(ConfigError, match="exactly one of 'path'"):
        backend_registry.create("transformers", path=tiny, model_id="x/y")
    with pytest.raises(ConfigError, match="device"):
        _backend(tiny, device="tpu")


async def test_answers_stop_at_the_context_and_too_long_prompts_fail_alone(tiny: Path) -> None:
    long_prompt = " ".join(["tents"] * 300)  # the tiny model's context is 256 positions
    async with _backend(tiny, max_new_tokens=1000, batch_wait_ms=100) as backend:
        results = await asyncio.gather(
            backend.send(_req(PROMPTS[0])), backend.send(_req(long_prompt)), return_exceptions=True
        )
        fits, too_long = results
        assert isinstance(fits, ChatResponse) and fits.usage is not None
        assert fits.usage.total_tokens == 256 and fits.finish_reason == "length"
        assert isinstance(too_long, BackendError) and "context only 256" in too_long.message
        decision = backend.classify(too_long)
    assert decision.decision == "fatal" and decision.kind is ErrorKind.BAD_RESPONSE
