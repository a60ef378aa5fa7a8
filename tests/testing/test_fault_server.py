"""The fault-injecting test server, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import math
import os
import signal
import struct
import subprocess
import sys
import urllib.request
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import orjson
import pytest

from chatbot_tester.testing.server import FaultPlan, FaultServer
from chatbot_tester.testing.server_plan import FAULT_MODES

MESSAGES = [{"role": "user", "content": "hello there"}]


async def post(
    srv: FaultServer, path: str, body: dict, headers: dict | None = None, timeout: float = 10
):
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            srv.url + path, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp,
    ):
        return resp.status, resp.headers.copy(), await resp.read()


async def chat(srv: FaultServer, content: str = "hello there", sample: str | None = None, **extra):
    headers = {"X-Sample-Id": sample} if sample else None
    body = {"model": "m", "messages": [{"role": "user", "content": content}], **extra}
    return await post(srv, "/v1/chat/completions", body, headers)


async def test_default_answer_is_an_echo_with_usage(fault_server):
    status, headers, body = await chat(fault_server, "what is two plus two")
    data = orjson.loads(body)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert data["choices"][0]["message"]["content"] == "echo: what is two plus two"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 6,
        "total_tokens": 11,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert data["model"] == "m"


async def test_rules_responder_tool_calls_and_no_usage(fault_server_factory):
    def responder(messages):
        if "weather" in messages[-1]["content"]:
            return {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
        return "default"

    srv = await fault_server_factory(
        responder=responder, rules=[(r"^capital", "Paris")], usage=False
    )
    data = orjson.loads((await chat(srv, "capital of France?"))[2])
    assert data["choices"][0]["message"]["content"] == "Paris" and "usage" not in data
    data = orjson.loads((await chat(srv, "weather please"))[2])
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert (
        orjson.loads((await chat(srv, "other"))[2])["choices"][0]["message"]["content"] == "default"
    )


async def test_failing_responder_gives_500(fault_server_factory):
    def broken(messages):
        raise RuntimeError("boom")

    srv = await fault_server_factory(responder=broken)
    status, _, body = await chat(srv)
    assert status == 500 and b"boom" in body


async def test_openai_stream_with_usage(fault_server_factory):
    srv = await fault_server_factory(cache_ratio=0.5)
    status, headers, body = await chat(
        srv, "one two three", stream=True, stream_options={"include_usage": True}
    )
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = [line[6:] for line in body.decode().split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: one two three"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 1
    }
    _, _, body = await chat(srv, "x", stream=True)
    assert b'"usage"' not in body


async def test_anthropic_messages_and_stream(fault_server):
    body = {"model": "claude", "system": "be brief", "max_tokens": 10, "messages": MESSAGES}
    status, _, raw = await post(fault_server, "/v1/messages", body)
    data = orjson.loads(raw)
    assert status == 200 and data["type"] == "message"
    assert data["content"] == [{"type": "text", "text": "echo: hello there"}]
    assert data["stop_reason"] == "end_turn" and data["usage"]["input_tokens"] == 4
    _, _, raw = await post(fault_server, "/v1/messages", {**body, "stream": True})
    kinds = [
        line.split(": ", 1)[1] for line in raw.decode().splitlines() if line.startswith("event: ")
    ]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds


async def test_embeddings_are_deterministic_unit_vectors_and_support_base64(fault_server):
    texts = ["the cat sat on the mat", "the cat sat on a mat", "quarterly revenue grew"]
    status, _, raw = await post(fault_server, "/v1/embeddings", {"model": "e", "input": texts})
    vectors = [d["embedding"] for d in orjson.loads(raw)["data"]]
    assert status == 200 and all(len(v) == 64 for v in vectors)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-9) for v in vectors)

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b, strict=False))

    assert cos(vectors[0], vectors[1]) > 0.8 > cos(vectors[0], vectors[2])
    _, _, raw = await post(
        fault_server, "/v1/embeddings", {"input": texts[0], "encoding_format": "base64"}
    )
    packed = base64.b64decode(orjson.loads(raw)["data"][0]["embedding"])
    decoded = struct.unpack("<64f", packed)
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, vectors[0], strict=False))


async def test_chat_endpoint_keeps_sessions(fault_server):
    status, _, raw = await post(fault_server, "/chat", {"message": "hi", "session_id": None})
    first = orjson.loads(raw)
    assert status == 200 and first["turn"] == 1 and first["reply"] == "echo: hi (turn 1)"
    sid = first["session_id"]
    second = orjson.loads(
        (await post(fault_server, "/chat", {"message": "again", "session_id": sid}))[2]
    )
    assert second == {"reply": "echo: again (turn 2)", "session_id": sid, "turn": 2}
    other = orjson.loads((await post(fault_server, "/chat", {"message": "new"}))[2])
    assert other["session_id"] != sid and other["turn"] == 1
    status, _, _ = await post(fault_server, "/chat", {"session_id": sid})
    assert status == 400


async def test_api_key_is_required_when_set(fault_server_factory):
    srv = await fault_server_factory(api_key="right-key-123")
    status, _, raw = await chat(srv)
    assert status == 401 and orjson.loads(raw)["error"]["code"] == "invalid_api_key"
    ok = await post(
        srv,
        "/v1/chat/completions",
        {"model": "m", "messages": MESSAGES},
        {"Authorization": "Bearer right-key-123"},
    )
    assert ok[0] == 200
    msg = await post(
        srv, "/v1/messages", {"model": "m", "messages": MESSAGES}, {"x-api-key": "right-key-123"}
    )
    assert msg[0] == 200
    assert srv.stats.faults == {"unauthorized": 1}


@pytest.mark.parametrize(
    ("mode", "status", "marker"),
    [
        ("429", 429, b"Rate limit"),
        ("429_date", 429, b"Rate limit"),
        ("429_ms", 429, b"Rate limit"),
        ("429_quota", 429, b"insufficient_quota"),
        ("500", 500, b"server_error"),
        ("503", 503, b"server_error"),
        ("401", 401, b"invalid_api_key"),
        ("error_body", 200, b'{"error"'),
        ("html", 200, b"<html>"),
    ],
)
async def test_status_fault_modes(fault_server_factory, mode, status, marker):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=(mode,), retry_after_s=2.5))
    got, headers, body = await chat(srv)
    assert got == status and marker in body
    if mode == "429":
        assert headers["Retry-After"] == "2.5"
    if mode == "429_ms":
        assert headers["retry-after-ms"] == "2500"
    if mode == "429_date":
        assert parsedate_to_datetime(headers["Retry-After"]) is not None
    if mode == "html":
        assert headers["Content-Type"].startswith("text/html")
    assert (await chat(srv))[0] == 200  # only the first attempt fails
    assert srv.stats.faults == {mode: 1} and srv.stats.successes == 1


async def test_truncated_json_is_cut(fault_server_factory):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=("truncated_json",)))
    status, _, body = await chat(srv)
    assert status == 200 and body.startswith(b'{"id"')
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)


async def test_reset_aborts_mid_body(fault_server_factory):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=("reset",)))
    with pytest.raises(aiohttp.ClientPayloadError):
        await chat(srv)
    assert (await chat(srv))[0] == 200


async def test_hang_never_answers(fault_server_factory):
    srv = await fault_server_factory(FaultPlan(fail_first=1, modes=("hang",)))
    with pytest.raises(asyncio.TimeoutError):
        await post(srv, "/v1/chat/completions", {"model": "m", "messages": MESSAGES}, timeout=0.3)
    assert srv.stats.faults == {"hang": 1}


@pytest.mark.parametrize(
    ("mode", "first", "then"),
    [("drip", b"{", b" "), ("keepalive", b": keep-alive\n\n", b": keep-alive\n\n")],
)
async def test_trickling_modes_send_bytes_but_never_finish(fault_server_factory, mode, first, then):
    srv = await fault_server_factory(
        FaultPlan(fail_first=1, modes=(mode,)), trickle_interval_s=0.01
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            srv.base_url + "/chat/completions",
            json={"model": "m", "messages": MESSAGES, "stream": True},
        ) as resp,
    ):
        assert resp.status == 200
        received = await resp.content.readexactly(len(first) + 3 * len(then))
    assert received == first + then * 3
    assert srv.stats.successes == 0


async def test_stop_ends_hanging_and_trickling_requests(fault_server_factory):
    srv = await fault_server_factory(
        FaultPlan(always_fail_ids=frozenset({"h", "d", "k"}), modes=("hang",))
    )
    plans = {"h": "hang", "d": "drip", "k": "keepalive"}
    tasks = []
    async with aiohttp.ClientSession() as session:
        for sid, mode in plans.items():
            srv.plan = FaultPlan(always_fail_ids=frozenset({sid}), modes=(mode,))
            tasks.append(asyncio.create_task(_read_all(session, srv, sid)))
            while srv.stats.in_flight < len(tasks):
                await asyncio.sleep(0.01)
        await asyncio.wait_for(srv.stop(), 10)
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert all(isinstance(r, aiohttp.ClientError) for r in results), results
    assert srv.stats.max_in_flight == 3 and srv.stats.successes == 0
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not leftovers


async def _read_all(session, srv, sample):
    async with session.post(
        srv.base_url + "/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"X-Sample-Id": sample},
    ) as resp:
        return await resp.read()


async def test_fail_first_and_always_fail_count_attempts_per_conversation(fault_server_factory):
    plan = FaultPlan(fail_first=2, modes=("500",), always_fail_ids=frozenset({"doomed"}))
    srv = await fault_server_factory(plan)
    statuses = [(await chat(srv, sample="a"))[0] for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert [(await chat(srv, sample="doomed"))[0] for _ in range(4)] == [500] * 4
    stats = srv.stats
    assert stats.attempts == {"a": 3, "doomed": 4}
    assert stats.faults == {"500": 6} and stats.successes == 1 and stats.requests == 7
    # without X-Sample-Id the conversation id is a hash of the messages: retries share it
    await chat(srv, "same question")
    await chat(srv, "same question")
    assert sorted(srv.stats.attempts.values()) == [2, 3, 4]


async def _pattern(srv: FaultServer) -> list[int]:
    return [(await chat(srv, sample=f"s{i}"))[0] for i in range(120)]


async def test_seeded_rate_is_reproducible(fault_server_factory):
    plan = FaultPlan(rate=0.3, modes=("429", "500", "503"), seed=7)
    first = await _pattern(await fault_server_factory(plan))
    second = await _pattern(await fault_server_factory(plan))
    other = await _pattern(
        await fault_server_factory(FaultPlan(rate=0.3, modes=("429", "500", "503"), seed=8))
    )
    assert first == second and first != other
    failures = sum(s != 200 for s in first)
    assert 15 <= failures <= 60
    assert {s for s in first if s != 200} == {429, 500, 503}


async def test_max_in_flight_counts_concurrent_requests(fault_server_factory):
    srv = await fault_server_factory(
        FaultPlan(always_fail_ids=frozenset(f"c{i}" for i in range(6)), modes=("hang",))
    )
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(_read_all(session, srv, f"c{i}")) for i in range(6)]
        while srv.stats.in_flight < 6:
            await asyncio.sleep(0.01)
        srv.plan = FaultPlan()
        assert (await chat(srv, sample="free"))[0] == 200
        await srv.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert srv.stats.max_in_flight == 7


async def test_stats_and_reset_endpoints(fault_server):
    await chat(fault_server, sample="x")
    async with aiohttp.ClientSession() as session:
        async with session.get(fault_server.url + "/stats") as resp:
            stats = await resp.json()
        assert stats["requests"] == 1 and stats["attempts"] == {"x": 1}
        assert stats["endpoints"] == {"/v1/chat/completions": 1}
        async with session.post(fault_server.url + "/reset") as resp:
            assert resp.status == 200
    assert fault_server.stats.requests == 0 and fault_server.stats.attempts == {}


def test_fault_plan_validates_its_fields():
    with pytest.raises(ValueError, match="unknown fault mode"):
        FaultPlan(modes=("teapot",))
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        FaultPlan(rate=1.5)
    assert FaultPlan.parse_modes(" 429, reset ,") == ("429", "reset")
    assert set(FAULT_MODES) >= {"429_quota", "drip", "keepalive", "truncated_json"}


def test_run_in_thread_serves_sync_clients(fault_server_thread):
    req = urllib.request.Request(
        fault_server_thread.base_url + "/chat/completions",
        data=orjson.dumps({"model": "m", "messages": MESSAGES}),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert orjson.loads(resp.read())["choices"][0]["message"]["content"] == "echo: hello there"
    assert fault_server_thread.stats.successes == 1


def test_serve_test_command_prints_url_and_stops_on_ctrl_c():
    exe = Path(sys.executable).with_name("chatbot-tester")
    proc = subprocess.Popen(
        [str(exe), "serve-test", "--port", "0", "--faults", "500", "--fail-first", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split("listening on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        req = urllib.request.Request(
            url + "/chat/completions", data=orjson.dumps({"model": "m", "messages": MESSAGES})
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 500
        info.value.close()
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "2 requests, 1 ok" in err


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": None, "messages": MESSAGES}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [{"content": "no role"}]}, "messages"),
    ],
)
async def test_chat_requests_are_validated_like_openai(fault_server, body, param):
    url = fault_server.base_url + "/chat/completions"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert fault_server.stats.successes == 0


async def test_completions_carry_fingerprint_and_refusal(fault_server):
    url, body = fault_server.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES}
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        data = await resp.json()
    assert data["system_fingerprint"].startswith("fp_")
    assert data["choices"][0]["message"]["refusal"] is None
