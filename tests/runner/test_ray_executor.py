"""``runner.executor: ray`` on a real local Ray cluster bound to 127.0.0.1: exactly once.

One cluster (2 CPUs, no dashboard: the ``ray_address`` fixture) serves the whole module;
every test sends real HTTP to the loopback fault server. The whole module takes ~1 minute on
a shared 2-core machine (the 10k run ~15 s of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from runner_test_helpers import openai_config, samples, write_dataset

from chatbot_tester.common.events import EventBus, ItemFinished, Notice
from chatbot_tester.runner import RunSummary
from chatbot_tester.runner.ray_executor import COORDINATOR_PREFIX, SHARDS_DIR, run_on_ray
from chatbot_tester.testing.server import FaultPlan, FaultServer
from ray_helpers import kill_worker_mid_shard, ray_pipeline, run_in_thread

N_SAMPLES = 10_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def lines_by_key(path: Path) -> Counter[tuple[str, int]]:
    """How often each (sample id, repeat) occurs in a results file."""
    found: Counter[tuple[str, int]] = Counter()
    for line in path.read_bytes().splitlines():
        if line.strip():
            obj = orjson.loads(line)
            found[(obj["sample_id"], obj["repeat"])] += 1
    return found


def ray_config(base_url: str, runner: dict[str, Any] | None = None, **ray: Any) -> Any:
    return openai_config(
        base_url,
        concurrency=8,
        retries=6,
        executor="ray",
        ray={"num_workers": 2, "shard_size": 100, **ray},
        **(runner or {}),
    )


def test_10k_samples_with_20pct_faults_give_10k_unique_records(
    ray_address: str, tmp_path: Path
) -> None:
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(N_SAMPLES))
    results = tmp_path / "results.jsonl"
    bus = EventBus()
    finished: list[ItemFinished] = []
    bus.subscribe(lambda e: finished.append(e) if isinstance(e, ItemFinished) else None)
    with FaultServer(FaultPlan(rate=0.2, seed=7), latency_ms=5).run_in_thread() as server:
        config = ray_config(server.base_url, shard_size=1000)
        summary = asyncio.run(run_on_ray(dataset, config, results, base_dir=tmp_path, bus=bus))
        stats = server.stats
    found = lines_by_key(results)
    assert summary.status == "completed"
    assert len(found) == N_SAMPLES and set(found.values()) == {1}
    assert summary.completed == summary.records == N_SAMPLES
    assert stats.total_faults > 1000  # the faults did happen and were retried
    # the concurrency limit is the run's, not each worker's (2 x 8 would show up here)
    assert 2 <= stats.max_in_flight <= 8
    # every record's progress event reached the driver's bus
    assert sorted(e.item_id for e in finished) == sorted(k for k, _ in found)
    assert not (tmp_path / SHARDS_DIR).exists() or not any((tmp_path / SHARDS_DIR).iterdir())


def test_killing_a_worker_mid_shard_loses_and_duplicates_nothing(
    ray_address: str, tmp_path: Path
) -> None:
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(600))
    results = tmp_path / "results.jsonl"
    bus = EventBus()
    notices: list[str] = []
    items: list[str] = []
    bus.subscribe(lambda e: notices.append(e.message) if isinstance(e, Notice) else None)
    bus.subscribe(lambda e: items.append(e.item_id) if isinstance(e, ItemFinished) else None)
    with FaultServer(latency_ms=40).run_in_thread() as server:
        config = ray_config(server.base_url, shard_size=300)
        thread, out = run_in_thread(
            run_on_ray(dataset, config, results, base_dir=tmp_path, bus=bus)
        )
        token = kill_worker_mid_shard(
            COORDINATOR_PREFIX, tmp_path / SHARDS_DIR, min_bytes=2000, deadline_s=30
        )
        thread.join(timeout=240)
        attempts = server.stats.attempts
    summary = out[0]
    assert isinstance(summary, RunSummary), summary
    found = lines_by_key(results)
    assert summary.status == "completed"
    assert len(found) == 600 and set(found.values()) == {1}
    assert any("died" in m and f"shard {token.split('-')[0]}" in m for m in notices), notices
    # one progress event per record, also for those the killed worker had not reported yet
    assert sorted(items) == sorted(k for k, _ in found)
    # the killed shard's records written before the kill were kept, not sent again
    assert sum(attempts.values()) < 600 + 300


def _pipeline(tmp_path: Path, base_url: str, address: str) -> Path:
    return ray_pipeline(
        tmp_path,
        base_url,
        address,
        name="ray-test",
        shard_size=40,
        backoff={"initial_s": 0.01, "max_s": 0.02},
        options={"sample_id_header": "X-Sample-Id"},
    )


def _recorded_keys(results: Path, shards: Path) -> set[str]:
    keys = {k for k, _ in lines_by_key(results)} if results.exists() else set()
    for part in shards.glob("part-*.jsonl") if shards.is_dir() else ():
        for line in part.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):  # a torn last line
                keys.add(orjson.loads(line)["sample_id"])
    return keys


def test_killing_the_driver_then_resume_completes_exactly_once(
    ray_address: str, tmp_path: Path
) -> None:
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(600))
    out = tmp_path / "out" / "results.jsonl"
    with FaultServer(latency_ms=50).run_in_thread() as server:
        pipe = _pipeline(tmp_path, server.base_url, ray_address)
        args = ["execute", str(pipe), "--dataset", str(dataset), "-o", str(out)]
        cli = [sys.executable, "-m", "chatbot_tester", *args]
        log = tmp_path / "driver.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=err)
            try:
                end = time.monotonic() + 90
                while (
                    time.monotonic() < end and len(lines_by_key(out) if out.exists() else ()) < 80
                ):
                    assert proc.poll() is None, log.read_text()
                    time.sleep(0.02)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        time.sleep(2)  # Ray ends the dead driver's tasks
        before = server.stats.attempts
        kept = _recorded_keys(out, out.parent / SHARDS_DIR)
        assert 80 <= len(kept) < 600  # killed mid-run, after some shards were merged
        done = subprocess.run([*cli, "--resume"], capture_output=True, timeout=180)
        assert done.returncode == 0, done.stderr.decode()
        after = server.stats.attempts
    found = lines_by_key(out)
    assert len(found) == 600 and set(found.values()) == {1}
    # what was recorded (merged or in a part file) when the driver died is not sent again
    assert all(after[k] == before[k] for k in kept)
    assert not any((out.parent / SHARDS_DIR).glob("part-*.jsonl"))


def test_the_budget_is_shared_by_the_workers(ray_address: str, tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(600))
    results = tmp_path / "results.jsonl"
    prices = {"test-model": {"input_per_million": 100, "output_per_million": 100}}
    with FaultServer(latency_ms=10).run_in_thread() as server:
        config = openai_config(
            server.base_url,
            concurrency=8,
            max_cost_usd=0.1,
            params={"max_tokens": 10},
            prices=prices,
            executor="ray",
            ray={"num_workers": 2, "shard_size": 100},
        )
        summary = asyncio.run(run_on_ray(dataset, config, results, base_dir=tmp_path))
    found = lines_by_key(results)
    assert summary.status == "budget_exhausted", summary
    assert (
        summary.cost_usd is not None and 0.07 < summary.cost_usd <= 0.1
    )  # 2 budgets would spend ~0.2
    assert 0 < len(found) < 600 and set(found.values()) == {1}


def test_run_command_on_ray_logs_every_item_to_events_jsonl(
    ray_address: str, tmp_path: Path
) -> None:
    from test_runner_cli_execute import run_cli

    write_dataset(tmp_path / "dataset.jsonl", samples(120))
    with FaultServer(FaultPlan(rate=0.2, seed=3)).run_in_thread() as server:
        pipe = _pipeline(tmp_path, server.base_url, ray_address)
        assert run_cli(["run", str(pipe), "--workspace", str(tmp_path / "ws")]) == 0
    (events,) = (tmp_path / "ws").rglob("events.jsonl")
    logged = [orjson.loads(line) for line in events.read_bytes().splitlines()]
    items = [e for e in logged if e["event"] == "ItemFinished" and e["stage"] == "run"]
    assert sorted(e["item_id"] for e in items) == sorted(f"s{i}" for i in range(120))
    (results,) = (tmp_path / "ws").rglob("results.jsonl")
    assert len(lines_by_key(results)) == 120


def test_bad_credentials_abort_every_shard_with_one_line(ray_address: str, tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(400))
    results = tmp_path / "results.jsonl"
    with FaultServer(api_key="another-key-5678").run_in_thread() as server:
        config = ray_config(server.base_url, shard_size=50)
        summary = asyncio.run(run_on_ray(dataset, config, results, base_dir=tmp_path))
        requests = server.stats.requests
    assert summary.status == "aborted"
    assert summary.message is not None and "401" in summary.message
    assert requests < 100  # the other shards were stopped, not run to the end
    assert not results.exists() or not lines_by_key(results)


def test_an_error_raised_in_a_worker_reaches_the_driver(ray_address: str, tmp_path: Path) -> None:
    from chatbot_tester.errors import PluginError

    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(10))
    config = ray_config("http://127.0.0.1:9/v1").model_copy(update={"backend": "no-such-backend"})
    with pytest.raises(PluginError, match="no-such-backend"):
        asyncio.run(run_on_ray(dataset, config, tmp_path / "results.jsonl", base_dir=tmp_path))


def test_the_rate_limit_is_shared_by_the_workers(ray_address: str, tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(50))
    with FaultServer().run_in_thread() as server:
        rate = {"rate_limit": {"requests_per_minute": 600}}
        config = ray_config(server.base_url, rate, shard_size=10)
        started = time.perf_counter()
        summary = asyncio.run(
            run_on_ray(dataset, config, tmp_path / "results.jsonl", base_dir=tmp_path)
        )
        seconds = time.perf_counter() - started
    assert summary.status == "completed" and summary.ok == 50
    # 10 requests/s with a burst of 10, for the run: >= 4 s (one limiter per worker: ~2 s)
    assert seconds >= 3.8
