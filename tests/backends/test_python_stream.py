"""The python backend streams sync and async generators of text chunks (TTFT measured)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.calls.attempt import run_attempt
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, TextDelta
from chatbot_tester.errors import BadResponse

PAUSE_S = 0.25

BOT = f"""
import asyncio
import threading
import time

MAIN = threading.get_ident()
CLOSED = []

async def agen(prompt):
    yield "Hel"
    await asyncio.sleep({PAUSE_S})
    yield ""
    yield "lo " + prompt

def sgen(prompt):
    yield "main:" if threading.get_ident() == MAIN else "worker:"
    time.sleep({PAUSE_S})
    yield prompt

def bad_items(prompt):
    yield "ok"
    yield 42

async def endless(prompt):
    try:
        while True:
            yield "x"
            await asyncio.sleep(0.01)
    finally:
        CLOSED.append(prompt)

def plain(prompt):
    return "not streamed"
"""


@pytest.fixture
def bot_dir(tmp_path: Path) -> Path:
    (tmp_path / "ct_stream_bot.py").write_text(textwrap.dedent(BOT))
    return tmp_path


def make(bot_dir: Path, func: str, **opts: Any) -> Any:
    return backend_registry.create(
        "python", base_dir=bot_dir, function=f"ct_stream_bot:{func}", **opts
    )


def req(text: str = "world") -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], model="m")


async def timed(backend: Any) -> tuple[ChatResponse, float, float]:
    response, start, first, end = await run_attempt(backend, req(), True, 10.0, time.perf_counter)
    assert first is not None, "no text delta: TTFT not measured"
    return response, first - start, end - start


async def test_async_generator_streams_with_ttft(bot_dir: Path) -> None:
    backend = make(bot_dir, "agen")
    response, ttft, latency = await timed(backend)
    assert response.text == "Hello world"
    assert ttft < latency and latency - ttft >= PAUSE_S * 0.8
    items = [i async for i in backend.stream(req())]
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hel", "lo world"]
    assert (await backend.send(req())).text == "Hello world"  # runner.stream off: joined


@pytest.mark.parametrize(("threaded", "where"), [(True, "worker:"), (False, "main:")])
async def test_sync_generator_streams_with_ttft(bot_dir: Path, threaded: bool, where: str) -> None:
    backend = make(bot_dir, "sgen", threaded=threaded)
    response, ttft, latency = await timed(backend)
    assert response.text == where + "world"
    assert ttft < latency and latency - ttft >= PAUSE_S * 0.8


async def test_a_non_text_chunk_is_a_bad_response(bot_dir: Path) -> None:
    with pytest.raises(BadResponse, match="yielded int"):
        await make(bot_dir, "bad_items").send(req())


async def test_an_abandoned_stream_closes_the_generator(bot_dir: Path) -> None:
    import sys

    backend = make(bot_dir, "endless")
    stream = backend.stream(req("p1"))
    assert isinstance(await stream.__anext__(), TextDelta)
    await stream.aclose()
    assert sys.modules["ct_stream_bot"].CLOSED == ["p1"]


async def test_a_plain_function_still_answers_through_stream(bot_dir: Path) -> None:
    items = [i async for i in make(bot_dir, "plain").stream(req())]
    assert len(items) == 1 and isinstance(items[0], ChatResponse)
    assert items[0].text == "not streamed"


def test_streams_for_generator_functions_only(bot_dir: Path) -> None:
    assert make(bot_dir, "agen").streams() and make(bot_dir, "sgen").streams()
    assert not make(bot_dir, "plain").streams()
