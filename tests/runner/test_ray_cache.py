"""``runner.cache`` with ``executor: ray``: the workers share the workspace's response cache.

A real local Ray cluster on 127.0.0.1 (2 CPUs, no dashboard) and the loopback test server,
whose request counter shows what reached the chatbot.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from runner_test_helpers import samples, write_dataset
from test_runner_cli_execute import run_cli

from chatbot_tester.testing.server import FaultServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

N = 120


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray head on loopback only (no dashboard); its GCS address."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ctx = ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
    )
    address = str(ctx.address_info["gcs_address"])
    assert address.startswith("127.0.0.1:"), address
    yield address
    ray.shutdown()


def _pipeline(tmp_path: Path, base_url: str, address: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"""
name: ray-cache
generator:
  source: dataset.jsonl
runner:
  backend: openai
  model: test-model
  concurrency: 8
  timeout_s: 5
  retries: 2
  cache: true
  options:
    base_url: {base_url}
    api_key: "key-for-tests-1234"
  executor: ray
  ray: {{address: "{address}", num_workers: 2, shard_size: 30}}
"""
    )
    return path


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
