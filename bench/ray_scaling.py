"""Throughput of ``runner.executor: ray`` with 1, 2 and 4 worker processes vs the local runner.

Against the loopback test server (its own process) answering after ``--latency-ms``, the
same N samples at the same total ``concurrency`` run through:

- ``local``: ``run_job`` in this process (the reference, ratio 1.0);
- ``ray-<W>``: ``run_on_ray`` on a local Ray cluster (loopback only) with W workers.

The latency bound is ``concurrency / latency`` requests/s (every slot always busy). Prints
seconds, requests/s, the ratio to ``local`` and to the bound, from one run each (a Ray warm-up
run first, so worker start-up and imports are not timed).

Usage: python bench/ray_scaling.py [--n 4000] [--concurrency 256] [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, runner_config, write_dataset


def _run(config: Any, dataset: Path, out: Path, *, ray: bool) -> float:
    from chatbot_tester.runner import run_job
    from chatbot_tester.runner.ray_executor import run_on_ray

    started = time.perf_counter()
    if ray:
        summary = asyncio.run(run_on_ray(dataset, config, out, base_dir=out.parent))
    else:
        summary = asyncio.run(run_job(dataset, config, out))
    seconds = time.perf_counter() - started
    assert summary.status == "completed" and summary.ok == summary.total, summary
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only
    import ray

    ray.init(
        num_cpus=max(workers),
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    bound = args.concurrency / (args.latency_ms / 1000)
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, Server(latency_ms=args.latency_ms) as server:
        root = Path(tmp)
        dataset = write_dataset(root / "dataset.jsonl", args.n)
        warm = write_dataset(root / "warm.jsonl", 8 * max(workers))

        def config(w: int | None, n: int) -> Any:
            extra: dict[str, Any] = {"retries": 0, "timeout_s": 30}
            if w is not None:
                size = max(1, math.ceil(n / (w * 4)))
                extra |= {"executor": "ray", "ray": {"num_workers": w, "shard_size": size}}
            return runner_config("openai", server.url, args.concurrency, **extra)

        _run(config(max(workers), 8 * max(workers)), warm, root / "warm" / "r.jsonl", ray=True)
        rows.append(
            ("local", _run(config(None, args.n), dataset, root / "l" / "r.jsonl", ray=False))
        )
        for w in workers:
            out = root / f"ray{w}" / "results.jsonl"
            rows.append((f"ray-{w}", _run(config(w, args.n), dataset, out, ray=True)))
    ray.shutdown()
    local = args.n / rows[0][1]
    print(
        f"n={args.n} concurrency={args.concurrency} latency={args.latency_ms:g} ms "
        f"bound={bound:.0f} req/s cpus={os.cpu_count()}"
    )
    print(f"{'variant':<8} {'seconds':>8} {'req/s':>8} {'x local':>8} {'x bound':>8}")
    for name, seconds in rows:
        rps = args.n / seconds
        print(f"{name:<8} {seconds:8.2f} {rps:8.0f} {rps / local:8.2f} {rps / bound:8.2f}")


if __name__ == "__main__":
    main()
