"""`runs list` over 1,000 runs: time to refresh the index and list (target: under 0.3 s).

Builds 1,000 run directories (manifest + report) in a temp workspace, then times a cold
build of the index, a warm refresh + list (what every `runs list` does), and the CLI.
With ``--postgres`` the index is a shared one in a throwaway PostgreSQL cluster on
127.0.0.1 (Debian's server binaries: ``make postgres``; ``tests/storage/pg_cluster.py``),
and the listing without a workspace to refresh (another machine's view) is timed too.

Usage: python bench/runs_list.py [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chatbot_tester.common.artifacts.run_index import RunIndex, open_index, open_store
from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.common.schemas import Manifest

N = 1000
ROOT = Path(__file__).resolve().parent.parent


def _median(times: list[float]) -> float:
    return sorted(times)[len(times) // 2]


def _cli(*args: str, cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "runs", "list", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="a shared PostgreSQL index")
    args = parser.parse_args()
    cluster = None
    url = None
    if args.postgres:
        sys.path.insert(0, str(ROOT / "tests" / "storage"))
        from pg_cluster import PgCluster

        cluster = PgCluster().start()
        url = cluster.create_database("bench_runs_list")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace(Path(tmp) / "ws")
            for i in range(N):
                run = ws.create_run()
                run.write_manifest(
                    Manifest(run_id=run.run_id, pipeline=f"p{i % 3}", status="completed")
                )
                report = {"passed": True, "metrics": {"exact_match": {"mean": 0.5, "ci_low": 0.4}}}
                (run.path / "report.json").write_text(json.dumps(report))
            t0 = time.perf_counter()
            with open_index(ws, url) as index:
                index.entries()
            cold = time.perf_counter() - t0
            warm = []
            for _ in range(5):
                t0 = time.perf_counter()
                with open_index(ws, url) as index:
                    entries = index.entries()
                warm.append(time.perf_counter() - t0)
            assert len(entries) == N
            remote = []
            if url is not None:  # another machine: no workspace to refresh, the index alone
                for _ in range(5):
                    t0 = time.perf_counter()
                    with RunIndex(None, open_store(url, None)) as index:
                        assert len(index.entries()) == N
                    remote.append(time.perf_counter() - t0)
            index_args = ["--index-url", url] if url else []
            cli = _cli("--workspace", str(ws.root), *index_args, cwd=tmp)
            cli_remote = _cli(*index_args, cwd=tmp) if url else None
    finally:
        if cluster is not None:
            cluster.stop()
    kind = "PostgreSQL on 127.0.0.1" if url else "SQLite"
    print(f"runs: {N}, index: {kind}")
    print(f"cold index build: {cold:.3f} s")
    print(f"refresh + list (median of 5): {_median(warm):.4f} s (target < 0.3 s)")
    if remote:
        print(f"list without a workspace to refresh (median of 5): {_median(remote):.4f} s")
    print(f"`chatbot-tester runs list --workspace ...` process, start-up included: {cli:.3f} s")
    if cli_remote is not None:
        print(
            f"`chatbot-tester runs list --index-url ...` process, start-up included: {cli_remote:.3f} s"
        )


if __name__ == "__main__":
    main()
