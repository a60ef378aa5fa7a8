"""Peak memory of the Ray driver as the dataset grows: the driver keeps keys, not records.

Each size runs in a fresh child process (``runner.executor: ray`` on a local loopback cluster
with 2 workers, against the test server in its own process, 0 ms latency) and reports the
driver's peak RSS; the ratio between sizes shows whether memory is bounded (it grows only
with the done keys and seen sample ids, 16 bytes each (``runner.keyset``), plus
``num_workers`` shards in flight).

Usage: python bench/ray_memory.py [--sizes 10000,100000] [--concurrency 64] [--timeout 3600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, peak_rss_mib, run_child, runner_config, write_dataset


def child(n: int, url: str, concurrency: int) -> None:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    from chatbot_tester.runner.ray_executor import run_on_ray

    ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = write_dataset(root / "dataset.jsonl", n)
        config = runner_config(
            "openai",
            url,
            concurrency,
            retries=0,
            executor="ray",
            ray={"num_workers": 2, "shard_size": 1000},
        )
        started = time.perf_counter()
        summary = asyncio.run(run_on_ray(dataset, config, root / "results.jsonl", base_dir=root))
        seconds = time.perf_counter() - started
        assert summary.status == "completed" and summary.ok == n, summary
    ray.shutdown()
    print(json.dumps({"n": n, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per size")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        n, url, concurrency = args.child
        child(int(n), url, int(concurrency))
        return
    first = None
    print(f"{'samples':>9} {'seconds':>8} {'req/s':>7} {'driver peak RSS MiB':>20} {'x first':>8}")
    with Server() as server:
        for n in (int(s) for s in args.sizes.split(",")):
            child_args = ["--child", str(n), server.url, str(args.concurrency)]
            row = run_child("ray_memory.py", child_args, timeout=args.timeout)
            rps = row["n"] / row["seconds"]
            rss = row["peak_rss_mib"]
            first = first or rss
            line = f"{row['n']:>9} {row['seconds']:8.1f} {rps:7.0f} {rss:20.1f} {rss / first:8.2f}"
            print(line, flush=True)  # each size as it ends (a 1M run takes minutes)


if __name__ == "__main__":
    main()
