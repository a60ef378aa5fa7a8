"""Peak memory at N = 10k and 100k samples: does it stay flat?

``--mode runner`` (default) runs ``run_job`` in a fresh child process over a generated JSONL
dataset (streamed, never loaded whole) against the loopback server in its own process, and
reports the child's peak RSS (``resource.getrusage``), its RSS after imports, and the 100k/10k
ratio. A runner that holds samples or records in memory grows ~10x; a streaming one stays
nearly flat.

``--mode run`` measures the whole ``chatbot-tester run`` process instead (generation from the
JSONL file, the run, the evaluation with ``exact_match`` and ``latency``, and the reports in
``--formats``, all four by default): its peak RSS is the ``ru_maxrss`` of that process.

Usage: python bench/memory.py [--mode runner|run] [--sizes 10000,100000] [--backend http]
       [--concurrency 32] [--formats json,html,junit,md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    Server,
    bench_pipeline,
    peak_rss_mib,
    run_child,
    runner_config,
    write_dataset,
)


def child(args: argparse.Namespace) -> None:
    """Run one job in this process and print peak RSS as one JSON line."""
    from chatbot_tester.common.backends import backend_registry
    from chatbot_tester.runner import run_job

    backend_registry.get(args.backend)
    base_rss = peak_rss_mib()
    config = runner_config(args.backend, args.url, args.concurrency)
    t0 = time.perf_counter()
    summary = asyncio.run(run_job(Path(args.dataset), config, Path(args.results)))
    seconds = time.perf_counter() - t0
    result = {"ok": summary.ok, "errors": summary.errors, "seconds": seconds}
    result.update(import_rss_mib=base_rss, peak_rss_mib=peak_rss_mib())
    print(json.dumps(result))


def child_run(args: argparse.Namespace) -> None:
    """Run ``chatbot-tester run`` as a subprocess; print its wall time and peak RSS."""
    import resource
    import subprocess

    tmp = Path(args.dataset).parent
    pipeline = Path(tempfile.mkstemp(prefix="pipeline-", suffix=".yaml", dir=tmp)[1])
    pipeline.write_text(
        bench_pipeline(
            "bench_memory",
            workspace=tempfile.mkdtemp(prefix="ws-", dir=tmp),
            dataset=args.dataset,
            url=args.url,
            concurrency=args.concurrency,
            formats=", ".join(args.formats.split(",")),
            latency_metric=True,
        ),
        encoding="utf-8",
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", str(pipeline)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if out.returncode != 0:  # 1 would mean errored samples: the figures would not be a real run
        raise SystemExit(f"run failed ({out.returncode}):\n{out.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"ok": -1, "seconds": seconds, "import_rss_mib": 0.0, "peak_rss_mib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backend", default="http", choices=["http", "openai"])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--mode", default="runner", choices=["runner", "run"])
    parser.add_argument("--formats", default="json,html,junit,md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_run(args) if args.mode == "run" else child(args)
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"memory ({args.mode}"
        + (f", reports {args.formats}" if args.mode == "run" else "")
        + f"): backend={args.backend} concurrency={args.concurrency}, server in its own process"
    )
    print(
        f"{'samples':>8} {'ok':>8} {'run s':>7} {'RSS after imports':>18} {'peak RSS':>9} {'results MiB':>11}"
    )
    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, Server() as server:
        for n in sizes:
            dataset = write_dataset(Path(tmp) / f"dataset-{n}.jsonl", n)
            results = Path(tmp) / f"results-{n}.jsonl"
            cmd = ["--child", "--url", server.url, "--dataset", str(dataset)]
            cmd += ["--results", str(results), "--backend", args.backend]
            cmd += ["--concurrency", str(args.concurrency)]
            cmd += ["--mode", args.mode, "--formats", args.formats]
            r = run_child("memory.py", cmd, timeout=900)
            size_mib = results.stat().st_size / 2**20 if results.exists() else float("nan")
            print(
                f"{n:>8} {r['ok']:>8} {r['seconds']:>7.1f} {r['import_rss_mib']:>14.1f} MiB "
                f"{r['peak_rss_mib']:>5.1f} MiB {size_mib:>11.1f}"
            )
            peaks.append(r["peak_rss_mib"])
            results.unlink(missing_ok=True)
    if len(peaks) >= 2:
        print(
            f"peak RSS ratio {sizes[-1]}/{sizes[0]} samples: {peaks[-1] / peaks[0]:.2f}x "
            f"(+{peaks[-1] - peaks[0]:.1f} MiB for {sizes[-1] - sizes[0]} more samples)"
        )


if __name__ == "__main__":
    main()
