"""``runner.cache`` with ``executor: ray``: the workers share the workspace's response cache.

A real local Ray cluster on 127.0.0.1 (2 CPUs, no dashboard: the ``ray_address`` fixture)
and the loopback test server, whose request counter shows what reached the chatbot.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from runner_test_helpers import samples, write_dataset
from test_runner_cli_execute import run_cli

from chatbot_tester.testing.server import FaultServer
from ray_helpers import ray_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

N = 120


def _pipeline(tmp_path: Path, base_url: str, address: str) -> Path:
    return ray_pipeline(tmp_path, base_url, address, name="ray-cache", shard_size=30, cache=True)


def _records(ws: Path) -> list[list[dict[str, object]]]:
    """The records of every run in the workspace, oldest run first."""
    runs = sorted(ws.rglob("results.jsonl"), key=lambda p: p.stat().st_mtime)
    return [[orjson.loads(line) for line in p.read_bytes().splitlines()] for p in runs]


def test_a_second_ray_run_is_answered_from_the_cache(ray_address: str, tmp_path: Path) -> None:
    write_dataset(tmp_path / "dataset.jsonl", samples(N))
    ws = tmp_path / "ws"
    with FaultServer(latency_ms=5).run_in_thread() as server:
        pipe = _pipeline(tmp_path, server.base_url, ray_address)
        assert run_cli(["run", str(pipe), "--workspace", str(ws)]) == 0
        first = server.stats.requests
        assert run_cli(["run", str(pipe), "--workspace", str(ws)]) == 0
        second = server.stats.requests - first
    assert first == N  # the first run asked the chatbot once per sample
    assert second == 0  # the second one not at all: every worker read the shared cache
    cold, warm = _records(ws)
    assert len(cold) == len(warm) == N
    assert not any(r.get("cached") for r in cold)
    assert all(r.get("cached") is True and r.get("error") is None for r in warm)
    by_id = {r["sample_id"]: r["response"]["text"] for r in cold}
    assert {r["sample_id"]: r["response"]["text"] for r in warm} == by_id
    assert (ws / "cache" / "responses.sqlite").exists()


def test_no_cache_flag_bypasses_the_cache_on_ray(ray_address: str, tmp_path: Path) -> None:
    write_dataset(tmp_path / "dataset.jsonl", samples(40))
    ws = tmp_path / "ws"
    with FaultServer().run_in_thread() as server:
        pipe = _pipeline(tmp_path, server.base_url, ray_address)
        assert run_cli(["run", str(pipe), "--workspace", str(ws)]) == 0
        assert run_cli(["run", str(pipe), "--workspace", str(ws), "--no-cache"]) == 0
        requests = server.stats.requests
    assert requests == 80
    assert not any(r.get("cached") for r in _records(ws)[1])
