"""The whole ``chatbot-tester run`` process against a raw aiohttp loop, in interleaved A/B pairs.

One loopback server per latency (``chatbot-tester serve-test`` in its own process, the
project's deterministic OpenAI-compatible server). For each size, every round runs, each in
a fresh process: the raw aiohttp loop (a minimal script: import aiohttp, send N requests at
the concurrency, parse each JSON answer; whole process, start-up included), then
``chatbot-tester run`` on a generated pipeline + JSONL dataset with the json report, then with
all four reports (json, html, junit, md). The order of the three alternates between rounds so
that a load change on the shared machine hits every variant alike.

Prints, per (N, latency): median wall times of the whole processes, the throughput ratios
(raw seconds / run seconds: 1.00 = as fast as the raw loop), the peak RSS of each process
(``ru_maxrss`` from ``os.wait4`` of that child: exact, no polling) and, with a latency, the
latency bound N / (concurrency / latency) plus the raw loop's own start-up, and the json run's
fraction of it (``of bound``).

Usage: python bench/whole_run.py [--sizes 1000,10000] [--latencies 0,50] [--rounds 3]
       [--concurrency 32] [--formats json|all|both] [--keep DIR] [--exe PATH]
e.g.   python bench/whole_run.py --sizes 100000 --latencies 0 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, Server, bench_pipeline, compile_sources, write_dataset

ALL_FORMATS = "json, html, junit, md"

RAW_LOOP = """
import asyncio, sys, time
t0 = time.perf_counter()
import aiohttp

async def main(url, n, concurrency):
    ok = 0
    todo = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            nonlocal ok
            for i in todo:
                body = {"model": "bench", "messages": [{"role": "user", "content": f"question {i}"}]}
                async with session.post(url + "/v1/chat/completions", json=body) as resp:
                    data = await resp.json()
                ok += data["choices"][0]["message"]["content"] == f"echo: question {i}"
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok

t1 = time.perf_counter()
ok = asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
print(ok, round(t1 - t0, 4))
"""
"""The reference: the least a Python client can do for the same work (exact match included)."""


EXE = [str(Path(sys.executable).with_name("chatbot-tester"))]
"""The ``chatbot-tester`` executable under test (``--exe``: another checkout's, for an A/B)."""


def _spawn(cmd: list[str], stderr_path: Path) -> dict[str, Any]:
    """Run ``cmd`` to completion; its wall time, peak RSS (MiB) and stdout."""
    t0 = time.perf_counter()
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = stderr_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{tail}")
    return {"s": seconds, "rss": usage.ru_maxrss / 1024, "out": out.decode()}


def _raw(url: str, n: int, c: int, tmp: Path) -> dict[str, Any]:
    r = _spawn([sys.executable, "-c", RAW_LOOP, url, str(n), str(c)], tmp / "raw.err")
    ok = int(r["out"].split()[0])
    if ok != n:
        raise SystemExit(f"raw loop: {ok} of {n} answers matched")
    return r


def _run(url: str, dataset: Path, c: int, formats: str, tmp: Path, tag: str) -> dict[str, Any]:
    pipeline = tmp / f"pipeline-{tag}.yaml"
    workspace = Path(tempfile.mkdtemp(prefix=f"ws-{tag}-", dir=tmp))
    pipeline.write_text(
        bench_pipeline(
            "whole_run",
            workspace=workspace,
            dataset=dataset,
            url=url,
            concurrency=c,
            formats=formats,
        ),
        encoding="utf-8",
    )
    cmd = [EXE[0], "run", "--no-cache", str(pipeline)]
    r = _spawn(cmd, tmp / f"run-{tag}.err")
    run_dir = Path(r["out"].strip().splitlines()[-1])
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    r["timings"] = manifest.get("timings", {})
    return r


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--latencies", default="0,50", help="server latency in ms")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--formats", choices=["json", "all", "both"], default="both")
    parser.add_argument("--keep", default=None, help="keep the workspaces in this directory")
    parser.add_argument("--exe", default=EXE[0], help="chatbot-tester executable to measure")
    args = parser.parse_args()
    EXE[0] = args.exe
    compile_sources()  # measure what an installed package runs, not the bytecode compiler
    c = args.concurrency
    variants = {"json": ["json"], "all": ["all"], "both": ["json", "all"]}[args.formats]
    print(
        f"whole_run: {args.exe}, whole processes, concurrency {c}, {args.rounds} interleaved"
        " rounds, medians; ratio = raw s / run s"
    )
    print(
        f"{'N':>7} {'ms':>3} {'raw s':>7} {'json s':>7} {'ratio':>6} {'4 rep s':>8} {'ratio':>6}"
        f" {'RSS raw/json/4 MiB':>20} {'bound s':>8} {'of bound':>8}  run phases (json, s)"
    )
    base = Path(args.keep) if args.keep else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp_name:
        tmp = Path(tmp_name)
        for latency in (float(x) for x in args.latencies.split(",")):
            with Server(latency_ms=latency) as server:
                for n in (int(x) for x in args.sizes.split(",")):
                    dataset = write_dataset(tmp / f"dataset-{n}.jsonl", n)
                    runs: dict[str, list[dict[str, Any]]] = {"raw": [], "json": [], "all": []}
                    for k in range(args.rounds):
                        order = ["raw", *variants]
                        order = order if k % 2 == 0 else order[::-1]
                        for v in order:
                            if v == "raw":
                                runs["raw"].append(_raw(server.url, n, c, tmp))
                            else:
                                fmt = "json" if v == "json" else ALL_FORMATS
                                runs[v].append(_run(server.url, dataset, c, fmt, tmp, f"{n}-{v}"))
                    _print_row(n, latency, c, runs)


def _print_row(n: int, latency: float, c: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    med = {k: statistics.median(r["s"] for r in v) if v else float("nan") for k, v in runs.items()}
    rss = {k: max(r["rss"] for r in v) if v else float("nan") for k, v in runs.items()}
    raw_startup = statistics.median(float(r["out"].split()[1]) for r in runs["raw"])
    bound = n / (c / (latency / 1000)) + raw_startup if latency else float("nan")
    of_bound = bound / med["json"] if latency else float("nan")
    phases = ""
    if runs["json"]:
        keys = runs["json"][0]["timings"].keys()
        phases = " ".join(
            f"{k}={statistics.median(r['timings'].get(k, 0.0) for r in runs['json']):.2f}"
            for k in keys
        )
    print(
        f"{n:>7} {latency:>3.0f} {med['raw']:>7.2f} {med['json']:>7.2f} "
        f"{med['raw'] / med['json']:>5.2f}x {med['all']:>8.2f} {med['raw'] / med['all']:>5.2f}x"
        f" {rss['raw']:>6.0f}/{rss['json']:>5.0f}/{rss['all']:>5.0f}"
        f" {bound:>10.2f} {of_bound:>7.2f}x  {phases}",
        flush=True,
    )


if __name__ == "__main__":
    main()
