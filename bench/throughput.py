"""Throughput of our runner versus minimal raw HTTP client loops, against the loopback server.

Sends the same N chat-completions requests at the same concurrency with:

- ``aiohttp``: a minimal raw aiohttp loop (the reference, ratio 1.0);
- ``httpx``: a minimal raw httpx loop (and ``httpx2`` when installed, the openai SDK's transport);
- ``ours-http``: ``chatbot_tester.runner.run_job`` through the ``http`` backend;
- ``ours-openai``: ``run_job`` through the ``openai`` backend (SDK on aiohttp).

Each variant runs in a fresh child process; the test server runs in its own process unless
``--placement thread`` (then each child hosts it in a thread, sharing the client's GIL).
Prints wall time of the request loop, requests/s, the ratio to the
aiohttp loop, the whole-process time (imports included) and the CPU time per request.

Usage: python bench/throughput.py [--n 10000] [--concurrency 32] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    Server,
    cpu_seconds,
    peak_rss_mib,
    profiled,
    run_child,
    runner_config,
    write_dataset,
)

VARIANTS = [
    "aiohttp",
    "httpx",
    "httpx2",
    "ours-http",
    "ours-openai",
    "ours-openai-aiohttp",
    "ours-openai-httpx",
]
OPENAI_TRANSPORTS = {
    "ours-openai": "aiohttp-direct",
    "ours-openai-aiohttp": "aiohttp",
    "ours-openai-httpx": "httpx",
}
"""The openai backend's ``transport`` option for each ``ours-openai*`` variant."""


def _body(i: int) -> dict[str, Any]:
    return {"model": "bench", "messages": [{"role": "user", "content": f"question {i}"}]}


async def _raw_aiohttp(url: str, n: int, concurrency: int) -> int:
    import aiohttp

    ok = 0
    todo = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal ok
            for i in todo:
                async with session.post(url + "/v1/chat/completions", json=_body(i)) as resp:
                    data = await resp.json()
                ok += bool(data["choices"][0]["message"]["content"])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


async def _raw_httpx(module: str, url: str, n: int, concurrency: int) -> int:
    httpx: Any = __import__(module)
    ok = 0
    todo = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal ok
            for i in todo:
                resp = await client.post(url + "/v1/chat/completions", json=_body(i))
                data = resp.json()
                ok += bool(data["choices"][0]["message"]["content"])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


async def _ours(variant: str, url: str, concurrency: int, dataset: Path) -> int:
    from chatbot_tester.runner import run_job

    if variant == "ours-http":
        config = runner_config("http", url, concurrency)
    else:
        transport = OPENAI_TRANSPORTS[variant]
        config = runner_config("openai", url, concurrency, options={"transport": transport})
    with tempfile.TemporaryDirectory() as tmp:
        summary = await run_job(dataset, config, Path(tmp) / "results.jsonl")
    return summary.ok


_OURS = ["aiohttp", "anyio._backends._asyncio", "chatbot_tester.runner.run"]
_OPENAI = [*_OURS, "openai", "httpx2", "chatbot_tester.common.backends.openai_direct"]
_LIBRARIES = {
    "aiohttp": ["aiohttp"],
    "httpx": ["httpx"],
    "httpx2": ["httpx2"],
    "ours-http": [*_OURS, "jmespath", "chatbot_tester.common.backends.http"],
    **{variant: _OPENAI for variant in OPENAI_TRANSPORTS},
}
"""What each variant imports before its timer starts ("loop s" and CPU exclude imports)."""


def _import_libraries(variant: str) -> None:
    import importlib

    for module in _LIBRARIES.get(variant, []):
        importlib.import_module(module)


def child(args: argparse.Namespace) -> None:
    """Run one variant in this process and print its figures as one JSON line."""
    variant, url, n, c = args.child, args.url, args.n, args.concurrency
    dataset = Path(args.dataset) if args.dataset else None
    _import_libraries(variant)
    ctx = fault_server = None
    if args.thread_server is not None:  # the server shares this process (and its GIL)
        from chatbot_tester.testing.server import FaultServer

        ctx = FaultServer(latency_ms=args.thread_server).run_in_thread()
        fault_server = ctx.__enter__()
        url = fault_server.url
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    with profiled(args.profile, Path(args.profile_out) if args.profile_out else None):
        if variant == "aiohttp":
            ok = asyncio.run(_raw_aiohttp(url, n, c))
        elif variant in ("httpx", "httpx2"):
            ok = asyncio.run(_raw_httpx(variant, url, n, c))
        else:
            assert dataset is not None
            ok = asyncio.run(_ours(variant, url, c, dataset))
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    result = {
        "variant": variant,
        "loop_s": seconds,
        "ok": ok,
        "cpu_s": cpu,
        "rss_mib": peak_rss_mib(),
    }
    if ctx is not None and fault_server is not None:
        result["server_max_in_flight"] = fault_server.stats.max_in_flight
        ctx.__exit__(None, None, None)
    print(json.dumps(result))


def _available(variant: str) -> bool:
    """True when the variant's libraries are installed (found, not imported: the parent stays
    small, since a child's peak RSS starts from its parent's)."""
    import importlib.util

    if variant not in _LIBRARIES:
        print(f"  (unknown variant {variant}; choose among {', '.join(VARIANTS)})", file=sys.stderr)
        return False
    missing = [m for m in _LIBRARIES[variant] if importlib.util.find_spec(m) is None]
    if missing:
        print(f"  (skipping {variant}: {', '.join(missing)} not installed)", file=sys.stderr)
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--placement", choices=["process", "thread"], default="process")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--runs", type=int, default=1, help="runs per variant (median reported)")
    parser.add_argument(
        "--profile", choices=["cprofile"], default=None, help="profile the child loops"
    )
    parser.add_argument("--profile-out", default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--thread-server", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    variants = [v for v in args.variants.split(",") if v and _available(v)]
    n, c, lat = args.n, args.concurrency, args.latency_ms
    where = {"process": "in its own process", "thread": "in a thread of each client process"}
    print(
        f"throughput: n={n} concurrency={c} server latency={lat:g} ms, server {where[args.placement]}"
        + (f", {args.runs} runs (medians)" if args.runs > 1 else "")
    )
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(latency_ms=lat) as server,
    ):
        dataset = write_dataset(Path(tmp) / "dataset.jsonl", n)
        for _ in range(args.runs):  # interleaved, so that load changes hit every variant alike
            for variant in variants:
                server.reset()
                cmd = ["--child", variant, "--url", server.url, "--n", str(n)]
                cmd += ["--concurrency", str(c), "--dataset", str(dataset)]
                if args.placement == "thread":
                    cmd += ["--thread-server", str(lat)]
                if args.profile:
                    cmd += ["--profile", args.profile]
                    if args.profile_out:
                        cmd += ["--profile-out", f"{args.profile_out}.{variant}"]
                result = run_child("throughput.py", cmd)
                if args.placement == "process":
                    result["server_max_in_flight"] = server.stats()["max_in_flight"]
                runs[variant].append(result)
    _print_table([_median(runs[v]) for v in variants], n, c, lat)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median loop time, with the median CPU time of all runs."""
    ordered = sorted(runs, key=lambda r: r["loop_s"])
    row = dict(ordered[len(ordered) // 2])
    cpu = sorted(r["cpu_s"] for r in runs)
    row["cpu_s"] = cpu[len(cpu) // 2]
    return row


def _print_table(rows: list[dict[str, Any]], n: int, c: int, latency_ms: float) -> None:
    """One line per variant; ratios are against the raw aiohttp loop."""
    base = next((r for r in rows if r["variant"] == "aiohttp"), None)
    bound = c / (latency_ms / 1000) if latency_ms > 0 else None
    head = (
        f"{'variant':<20} {'ok':>6} {'loop s':>7} {'req/s':>7} {'thr ratio':>9} {'time x':>7} "
        f"{'CPU ms/req':>10} {'CPU x':>6} {'process s':>9} {'RSS MiB':>7} {'in flight':>9}"
    )
    if bound is not None:
        head += f" {'of bound':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        rate = n / r["loop_s"]
        cpu_ms = r["cpu_s"] / n * 1000
        thr = time_x = cpu_x = "-"
        if base is not None:
            thr = f"{rate / (n / base['loop_s']):.2f}"
            time_x = f"{r['loop_s'] / base['loop_s']:.2f}x"
            cpu_x = f"{r['cpu_s'] / base['cpu_s']:.2f}x"
        line = (
            f"{r['variant']:<20} {r['ok']:>6} {r['loop_s']:>7.2f} {rate:>7.0f} {thr:>9} {time_x:>7} "
            f"{cpu_ms:>10.3f} {cpu_x:>6} {r['process_s']:>9.2f} {r['rss_mib']:>7.1f} "
            f"{r['server_max_in_flight']:>9}"
        )
        if bound is not None:
            line += f" {rate / bound:>8.0%}"
        print(line)
    print(
        "thr ratio = req/s / aiohttp req/s (the throughput ratio); time x = loop s / aiohttp loop s; "
        "CPU x = client CPU / aiohttp client CPU"
    )
    if bound is not None:
        print(
            f"bound at {c} in flight x {latency_ms:g} ms: {bound:.0f} req/s ({n / bound:.2f} s for {n}); "
            "'of bound' = req/s / bound"
        )


if __name__ == "__main__":
    main()
