"""Recorded latency is the wire's (issue 10): a fixed-latency server, every request within 5 ms.

The test server runs in its own process (``serve-test --latency-ms 50``), so its timing
does not share our event loop. Each run starts with a cold tokenizer: with ``--no-usage``
the runner estimates tokens locally, and loading the tokenizer on the loop used to add its
load time (170-450 ms) to every request in flight. Streamed calls must reuse keep-alive
connections: the server counts the TCP connections that carried requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from runner_test_helpers import openai_config, samples

from chatbot_tester.common.calls.cost import _encoding
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.runner import read_records, run_job

DELAY_MS = 50.0
TOLERANCE_MS = 5.0
SPIKE_MS = 40.0


@pytest.fixture(params=[True, False], ids=["usage", "no-usage"])
def server(request) -> Iterator[tuple[str, bool]]:
    usage = request.param
    cmd = [sys.executable, "-m", "chatbot_tester", "serve-test", "--port", "0"]
    cmd += ["--latency-ms", str(DELAY_MS)] + ([] if usage else ["--no-usage"])
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split("listening on ", 1)[1].split()[0]
        _warm_server(url)
        yield url, usage
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _warm_server(base_url: str) -> None:
    """Warm the server's own first-request paths (its cold start is not the client's latency)."""
    body = {"model": "m", "messages": [{"role": "user", "content": "warm up"}]}

    async def warm() -> None:
        async with httpx.AsyncClient(base_url=base_url) as client:
            for stream in (False, True):
                requests = [
                    client.post("/chat/completions", json={**body, "stream": stream})
                    for _ in range(16)
                ]
                await asyncio.gather(*requests)
            await client.post(base_url.removesuffix("/v1") + "/reset")

    asyncio.run(warm())


def _config(backend: str, base_url: str, **overrides: object) -> RunnerConfig:
    if backend == "openai":
        return openai_config(base_url, concurrency=8, **overrides)
    return RunnerConfig.model_validate(
        {
            "backend": "http",
            "model": "test-model",
            "options": {"url": base_url + "/chat/completions", "usage_path": "usage"},
            "concurrency": 8,
            **overrides,
        }
    )


def _stats(base_url: str) -> dict:
    root = base_url.removesuffix("/v1")
    return httpx.get(root + "/stats").json()


def _conversation(backend: str, record) -> str:
    """The server's conversation id of a record: its sample id header, else its messages' hash."""
    if backend == "openai":
        return record.sample_id
    number = record.sample_id.removeprefix("s")
    messages = [{"role": "user", "content": f"question {number}"}]
    return hashlib.blake2b(orjson.dumps(messages), digest_size=8).hexdigest()


def _offsets(records, stats: dict, backend: str) -> list[float]:
    """Per record, in start order: ms its recorded latency is over the server's own time."""
    server_ms = stats["handling_ms"]
    off = []
    for record in sorted(records, key=lambda r: r.started_at):
        took = server_ms[_conversation(backend, record)]
        assert took >= DELAY_MS
        off.append(round((record.latency_ms or 0.0) - took, 1))
    assert all(d >= 0 for d in off), f"faster than the server? {off}"
    return off


def _faithful(off: list[float]) -> bool:
    """The wire's figure: the median request within 5 ms of the server's own time, and every
    request, the first ones included, within a bound that a lazy load on the loop (a
    tokenizer: 170-450 ms) breaks but a busy 2-core machine's scheduling does not."""
    return statistics.median(off) <= TOLERANCE_MS and max(off) <= SPIKE_MS


ATTEMPTS = 3
"""Load on a shared machine only ever adds latency; a defect adds it to every attempt."""


async def _measure(base_url: str, backend: str, usage: bool, tmp_path: Path, **extra) -> list:
    """Best of ``ATTEMPTS`` runs (fresh client, cold tokenizer): the offsets of each attempt."""
    n = 100 if extra.get("stream") else 50
    seen = []
    for attempt in range(ATTEMPTS):
        httpx.post(base_url.removesuffix("/v1") + "/reset")
        _encoding.cache_clear()  # a cold tokenizer, as in a fresh process
        out = tmp_path / f"results-{attempt}.jsonl"
        summary = await run_job(samples(n), _config(backend, base_url, **extra), out)
        assert summary.errors == 0
        records = list(read_records(out))
        assert len(records) == n
        assert all(r.usage is not None and r.usage.estimated is not usage for r in records)
        stats = _stats(base_url)
        assert stats["requests"] == n
        if extra.get("stream"):
            assert stats["connections"] <= 8, f"{stats['connections']} connections for {n} calls"
        seen.append(_offsets(records, stats, backend))
        if _faithful(seen[-1]):
            break
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["openai", "http"])
async def test_recorded_latency_is_the_servers_for_every_request(
    tmp_path: Path, server: tuple[str, bool], backend: str
) -> None:
    base_url, usage = server
    seen = await _measure(base_url, backend, usage, tmp_path)
    assert _faithful(seen[-1]), f"ms over the server's time, per attempt: {seen}"


@pytest.mark.slow
async def test_streamed_calls_reuse_their_connections(
    tmp_path: Path, server: tuple[str, bool]
) -> None:
    base_url, usage = server
    seen = await _measure(base_url, "openai", usage, tmp_path, stream=True)
    assert _faithful(seen[-1]), f"ms over the server's time, per attempt: {seen}"
