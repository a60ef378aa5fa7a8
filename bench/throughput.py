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

VARIANTS = ["aiohttp", "httpx", "httpx2", "ours-http", "ours-openai"]


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


async def _ours(backend: str, url: str, n: int, concurrency: int, dataset: Path) -> int:
    from chatbot_tester.runner import run_job

    config = runner_config(backend, url, concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        summary = await run_job(dataset, config, Path(tmp) / "results.jsonl")
    return summary.ok


_LIBRARIES = {
    "aiohttp": ["aiohttp"],
    "httpx": ["httpx"],
    "httpx2": ["httpx2"],
    "ours-http": ["aiohttp", "anyio._backends._asyncio", "jmespath", "chatbot_tester.runner.run"],
    "ours-openai": [
        "aiohttp",
        "anyio._backends._asyncio",
        "openai",
        "chatbot_tester.runner.run",
        "chatbot_tester.common.backends.openai_direct",
    ],
}
"""What each variant imports before its timer starts ("loop s" and CPU exclude imports)."""


def _import_libraries(variant: str) -> None:
    import importlib

    for module in _LIBRARIES.get(variant, []):
        importlib.import_module(module)
    if variant.startswith("ours"):
        from chatbot_tester.common.backends import backend_registry

        backend_registry.get(variant.removeprefix("ours-"))


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
            ok = asyncio.run(_ours(variant.removeprefix("ours-"), url, n, c, dataset))
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
    try:
        if variant in ("httpx", "httpx2"):
            __import__(variant)
        elif variant == "ours-openai":
            from chatbot_tester.common.backends import backend_registry

            backend_registry.get("openai")
        elif variant == "ours-http":
            from chatbot_tester.common.backends import backend_registry

            backend_registry.get("http")
            __import__("chatbot_tester.runner", fromlist=["run_job"]).run_job  # noqa: B018
    except Exception as exc:
        print(f"  (skipping {variant}: {type(exc).__name__}: {exc})", file=sys.stderr)
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
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(latency_ms=lat) as server,
    ):
        dataset = write_dataset(Path(tmp) / "dataset.jsonl", n)
        rows: list[dict[str, Any]] = []
        for variant in variants:
            runs = []
            for _ in range(args.runs):
                server.reset()
                cmd = [
                    "--child",
                    variant,
                    "--url",
                    server.url,
                    "--n",
                    str(n),
                    "--concurrency",
                    str(c),
                ]
                cmd += ["--dataset", str(dataset)]
                if args.placement == "thread":
                    cmd += ["--thread-server", str(lat)]
                if args.profile:
                    cmd += ["--profile", args.profile]
                    if args.profile_out:
                        cmd += ["--profile-out", f"{args.profile_out}.{variant}"]
                result = run_child("throughput.py", cmd)
                if args.placement == "process":
                    result["server_max_in_flight"] = server.stats()["max_in_flight"]
                runs.append(result)
            runs.sort(key=lambda r: r["loop_s"])
            rows.append(runs[len(runs) // 2])
    _print_table(rows, n, c, lat)


def _print_table(rows: list[dict[str, Any]], n: int, c: int, latency_ms: float) -> None:
    base = next((r["loop_s"] for r in rows if r["variant"] == "aiohttp"), None)
    head = f"{'variant':<12} {'ok':>7} {'loop s':>8} {'req/s':>9} {'x aiohttp':>9} {'process s':>9} {'CPU ms/req':>10} {'RSS MiB':>8} {'max in flight':>13}"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r['loop_s'] / base:8.2f}x" if base else "      -"
        print(
            f"{r['variant']:<12} {r['ok']:>7} {r['loop_s']:>8.2f} {n / r['loop_s']:>9.0f} {ratio:>9} "
            f"{r['process_s']:>9.2f} {r['cpu_s'] / n * 1000:>10.3f} {r['rss_mib']:>8.1f} {r['server_max_in_flight']:>13}"
        )
    if latency_ms > 0:
        bound = c / (latency_ms / 1000)
        print(
            f"bound at {c} in flight x {latency_ms:g} ms: {bound:.0f} req/s ({n / bound:.2f} s for {n})"
        )
        for r in rows:
            print(
                f"  {r['variant']:<12} achieved {n / r['loop_s']:.0f} req/s = {n / r['loop_s'] / bound:.0%} of the bound"
            )


if __name__ == "__main__":
    main()
