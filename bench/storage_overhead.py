"""Local run throughput now versus a checkout from before the storage layer (``--base``).

The storage change (remote workspaces, the run index, run sync hooks) must keep a local
``chatbot-tester run`` as fast as before: within 5% at 10,000 samples. This runs the same
pipeline (file source, ``http`` backend, ``exact_match`` and ``latency``, json report; the one
of ``memory.py --mode run``) from both trees, each in a fresh process with
``PYTHONPATH=<tree>/src`` and the same interpreter and packages, against one loopback test
server, in interleaved pairs (the order alternates every round). It prints, per tree, the
median run-stage seconds (``manifest.timings.run``: sending, recording, the appender), the
run stage's CPU seconds (``PipelineRun.run`` timed with ``time.process_time`` by a wrapper,
so neither tree is changed), the whole process's wall and CPU seconds, and the throughput
ratios base / current as the median of the per-pair ratios (1.00 = as fast; 0.95 = 5%
slower). On a shared machine the CPU ratios are the steady ones: wall times move with the
neighbours' load.

Make the base checkout first: ``git worktree add /tmp/base 065c0cc``.

Usage: python bench/storage_overhead.py [--base /tmp/base] [--n 10000] [--rounds 5]
       [--concurrency 32] [--latency-ms 0]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, bench_pipeline, compile_sources, write_dataset

ROOT = Path(__file__).resolve().parent.parent


WRAPPER = """
import os, sys, time
from chatbot_tester.orchestrator import pipeline_run

original = pipeline_run.PipelineRun.run

async def timed(self):
    started = time.process_time()
    try:
        return await original(self)
    finally:
        with open(os.environ["CT_BENCH_CPU_FILE"], "w") as fh:
            fh.write(str(time.process_time() - started))

pipeline_run.PipelineRun.run = timed
from chatbot_tester.cli.main import main
sys.argv = ["chatbot-tester", "run", sys.argv[1]]
main()
"""


def _cpu_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(
    tree: Path, url: str, dataset: Path, concurrency: int, tmp: Path
) -> tuple[float, float, float]:
    """One ``chatbot-tester run`` from ``tree``: run-stage wall s, run-stage CPU s, process
    wall s, process CPU s."""
    workspace = Path(tempfile.mkdtemp(prefix="ws-", dir=tmp))
    pipeline = workspace.with_suffix(".yaml")
    pipeline.write_text(
        bench_pipeline(
            "bench_storage",
            workspace=workspace,
            dataset=dataset,
            url=url,
            concurrency=concurrency,
            latency_metric=True,
        )
    )
    cpu_file = workspace.with_suffix(".cpu")
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "CT_BENCH_CPU_FILE": str(cpu_file)}
    cpu0 = _cpu_children()
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(pipeline)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=1800,
    )
    process_s = time.perf_counter() - t0
    cpu_s = _cpu_children() - cpu0
    if out.returncode != 0:  # 1 would mean errored samples: not a real measurement
        raise SystemExit(f"run from {tree} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    (manifest,) = workspace.glob("runs/*/manifest.json")
    data = json.loads(manifest.read_text())
    assert data["counts"]["records"] == data["counts"]["samples"], data["counts"]
    return float(data["timings"]["run"]), float(cpu_file.read_text()), process_s, cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=Path, default=Path("/tmp/base"))
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    if not (args.base / "src" / "chatbot_tester").is_dir():
        raise SystemExit(f"{args.base}: no checkout (git worktree add {args.base} 065c0cc)")
    trees = {"base": args.base.resolve(), "current": ROOT}
    for tree in trees.values():
        compile_sources(tree / "src")
    runs: dict[str, list[tuple[float, ...]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp_name, Server(latency_ms=args.latency_ms) as server:
        tmp = Path(tmp_name)
        dataset = write_dataset(tmp / "dataset.jsonl", args.n)
        _run(trees["current"], server.url, dataset, args.concurrency, tmp)  # warm the caches
        for i in range(args.rounds):
            order = ["base", "current"] if i % 2 == 0 else ["current", "base"]
            for name in order:
                runs[name].append(_run(trees[name], server.url, dataset, args.concurrency, tmp))
            print(
                f"round {i + 1}: "
                + ", ".join(
                    f"{n} run {runs[n][-1][0]:.2f} s ({runs[n][-1][1]:.2f} s CPU), "
                    f"process {runs[n][-1][2]:.2f} s ({runs[n][-1][3]:.2f} s CPU)"
                    for n in order
                ),
                flush=True,
            )
    print(
        f"N={args.n}, concurrency {args.concurrency}, latency {args.latency_ms:g} ms, "
        f"{args.rounds} interleaved pairs, medians"
    )
    for name, values in runs.items():
        run_s, run_cpu, process_s, cpu_s = (
            statistics.median(v[k] for v in values) for k in range(4)
        )
        print(
            f"{name:>8}: run stage {run_s:.2f} s ({args.n / run_s:,.0f} samples/s), "
            f"{run_cpu:.2f} s CPU; process {process_s:.2f} s, {cpu_s:.2f} s CPU"
        )
    whats = ("run stage wall", "run stage CPU", "whole process wall", "whole process CPU")
    for k, what in enumerate(whats):
        pairs = zip(runs["base"], runs["current"], strict=True)
        paired = statistics.median(b[k] / c[k] for b, c in pairs)
        medians = statistics.median(b[k] for b in runs["base"]) / statistics.median(
            c[k] for c in runs["current"]
        )
        print(
            f"throughput ratio base/current, {what}: {paired:.3f} median of pairs, "
            f"{medians:.3f} of medians (>= 0.95: within 5%)"
        )


if __name__ == "__main__":
    main()
