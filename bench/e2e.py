"""The whole ``chatbot-tester run`` process against a raw aiohttp loop, in interleaved pairs.

For each size and server latency, every round runs, each in a fresh process against the same
loopback server (its own process): the raw aiohttp loop of ``throughput.py`` (whole process,
start-up and imports included), then ``chatbot-tester run`` with the json report, then with
all four reports (the pipeline of ``memory.py --mode run``: file source, ``http`` backend,
``exact_match`` and ``latency``). It prints the median wall times, the throughput ratios
(raw seconds / run seconds: 1.00 = as fast as the raw loop), and peak RSS of each process.
With a latency the best any client can do is N / (concurrency / latency) seconds.

Usage: python bench/e2e.py [--sizes 1000,10000] [--n 100000] [--latencies 0,50] [--rounds 3]
       [--concurrency 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, run_child, write_dataset

ALL_FORMATS = "json,html,junit,md"


def _raw(url: str, n: int, concurrency: int) -> dict[str, Any]:
    args = ["--child", "aiohttp", "--url", url, "--n", str(n), "--concurrency", str(concurrency)]
    r = run_child("throughput.py", args, timeout=1800)
    return {"s": r["process_s"], "rss": r["rss_mib"]}


def _run(url: str, dataset: Path, concurrency: int, formats: str) -> dict[str, Any]:
    args = ["--child", "--mode", "run", "--url", url, "--dataset", str(dataset)]
    args += ["--concurrency", str(concurrency), "--formats", formats]
    r = run_child("memory.py", args, timeout=1800)
    return {"s": r["seconds"], "rss": r["peak_rss_mib"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--n", type=int, action="append", default=[], help="add a size (100000)")
    parser.add_argument("--latencies", default="0,50", help="server latency in ms")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    c = args.concurrency
    print(f"e2e: whole processes, concurrency {c}, {args.rounds} interleaved rounds, medians")
    print(
        f"{'N':>7} {'ms':>4} {'raw s':>7} {'json s':>7} {'ratio':>6} {'4 rep s':>8} {'ratio':>6}"
        f" {'raw MiB':>8} {'json MiB':>9} {'4 rep MiB':>10} {'bound s':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for latency in (float(x) for x in args.latencies.split(",")):
            with Server(latency_ms=latency) as server:
                for n in [int(x) for x in args.sizes.split(",")] + args.n:
                    dataset = write_dataset(Path(tmp) / f"dataset-{n}.jsonl", n)
                    runs: dict[str, list[dict[str, Any]]] = {"raw": [], "json": [], "all": []}
                    for _ in range(args.rounds):
                        runs["raw"].append(_raw(server.url, n, c))
                        runs["json"].append(_run(server.url, dataset, c, "json"))
                        runs["all"].append(_run(server.url, dataset, c, ALL_FORMATS))
                    med = {k: statistics.median(r["s"] for r in v) for k, v in runs.items()}
                    rss = {k: max(r["rss"] for r in v) for k, v in runs.items()}
                    bound = n / (c / (latency / 1000)) if latency else float("nan")
                    print(
                        f"{n:>7} {latency:>4.0f} {med['raw']:>7.2f} {med['json']:>7.2f} "
                        f"{med['raw'] / med['json']:>5.2f}x {med['all']:>8.2f} "
                        f"{med['raw'] / med['all']:>5.2f}x {rss['raw']:>8.1f} {rss['json']:>9.1f} "
                        f"{rss['all']:>10.1f} {bound:>8.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
