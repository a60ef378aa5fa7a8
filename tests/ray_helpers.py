"""Helpers of the Ray tests (tests/runner/test_ray_*.py, tests/evaluator/test_eval_ray.py).

The local cluster itself is the ``ray_address`` fixture of tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import yaml


def run_in_thread(coro: Coroutine[Any, Any, Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``coro`` on its own event loop in a started daemon thread.

    The list receives its result, or the exception it raised (for the test to inspect).
    """
    out: list[Any] = []

    def main() -> None:
        try:
            out.append(asyncio.run(coro))
        except BaseException as exc:  # handed to the test
            out.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    return thread, out


def worker_pids(coordinator_prefix: str, deadline_s: float = 60) -> dict[str, int]:
    """Attempt token -> worker pid of the running shards, from the driver's coordinator actor.

    Waits (up to ``deadline_s``) for an actor named ``coordinator_prefix...`` to report one.
    """
    import ray

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        names = [n for n in ray.util.list_named_actors() if n.startswith(coordinator_prefix)]
        for name in names:  # another run's coordinator may still be shutting down
            try:
                pids: dict[str, int] = ray.get(ray.get_actor(name).pids.remote())
            except (ValueError, ray.exceptions.RayActorError):  # gone since it was listed
                continue
            if pids:
                return pids
        time.sleep(0.05)
    raise AssertionError(f"no shard attempt started (coordinator {coordinator_prefix}*)")


def kill_worker_mid_shard(
    coordinator_prefix: str, shards_dir: Path, *, min_bytes: int, deadline_s: float
) -> str:
    """SIGKILL the worker of the first running shard attempt, once it wrote part of its shard.

    That is once its part file in ``shards_dir`` holds ``min_bytes`` (or after ``deadline_s``).
    Returns the attempt's token, ``<shard>-<attempt>``.
    """
    token, pid = sorted(worker_pids(coordinator_prefix).items())[0]
    part = shards_dir / f"part-{token}.jsonl"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and (not part.exists() or part.stat().st_size < min_bytes):
        time.sleep(0.02)  # mid-shard: some of its lines are written, most are not
    os.kill(pid, signal.SIGKILL)
    return token


def ray_pipeline(
    folder: Path, base_url: str, address: str, *, name: str, shard_size: int, **runner: Any
) -> Path:
    """``folder/pipeline.yaml``: ``folder/dataset.jsonl`` sent to ``base_url`` on Ray at ``address``.

    The openai backend, 2 workers; ``runner`` adds runner fields (its ``options`` are added to
    the backend's).
    """
    options = {"base_url": base_url, "api_key": "key-for-tests-1234", **runner.pop("options", {})}
    pipeline = {
        "name": name,
        "generator": {"source": "dataset.jsonl"},
        "runner": {
            "backend": "openai",
            "model": "test-model",
            "concurrency": 8,
            "timeout_s": 5,
            "retries": 2,
            **runner,
            "options": options,
            "executor": "ray",
            "ray": {"address": address, "num_workers": 2, "shard_size": shard_size},
        },
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path
