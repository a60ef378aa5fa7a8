"""Reading a finished run's results as JSONL or as its Parquet twin: time and peak memory.

Writes N synthetic run records (a quickstart-like answer of ~150 characters, usage, timings)
to ``results.jsonl`` and mirrors it to ``results.parquet`` (``columnar.write_columnar``).
Each measurement runs in a fresh child process and streams every record through
``run_files.iter_models`` (validated ``RunRecord`` models, what evaluate/compare/export read)
or ``run_files.iter_rows`` (plain dicts, what the viewer indexes), with the other file of
the pair deleted so that ``locate`` picks the one measured. Peak RSS at two sizes shows the
reading is bounded (row groups / lines, never the whole file).

Usage: python bench/parquet_read.py [--sizes 20000,200000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import peak_rss_mib, run_child

ANSWER = (
    "You can track your order from My Account > Orders, or with the tracking link in your "
    "shipping confirmation email. Tracking updates within 24 hours of dispatch."
)


def _record(i: int) -> bytes:
    usage = {"prompt_tokens": 9, "completion_tokens": 27, "total_tokens": 36}
    return (
        json.dumps(
            {
                "schema_version": 1,
                "sample_id": f"s{i:07d}",
                "repeat": 0,
                "response": {"text": f"{ANSWER} #{i}", "usage": usage, "model": "demo"},
                "latency_ms": 10.0 + i % 97,
                "usage": usage,
                "backend": "demo",
                "model": "demo",
                "started_at": "2026-12-03T14:37:02.346487Z",
                "finished_at": "2026-12-03T14:37:02.354450Z",
            }
        ).encode()
        + b"\n"
    )


def prepare(root: Path, n: int) -> Path:
    from chatbot_tester.common.artifacts.columnar import write_columnar
    from chatbot_tester.common.schemas import RunRecord

    folder = root / str(n)
    folder.mkdir()
    with (folder / "results.jsonl").open("wb") as fh:
        for i in range(n):
            fh.write(_record(i))
    write_columnar(folder / "results.jsonl", folder / "results.parquet", RunRecord)
    return folder


def child(folder: str, fmt: str, how: str) -> None:
    import pyarrow.parquet  # noqa: F401  (its import, ~0.3 s, is not the reading)

    from chatbot_tester.common.artifacts import run_files
    from chatbot_tester.common.schemas import RunRecord

    base = peak_rss_mib()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"results.{fmt}"
        os.link(Path(folder) / f"results.{fmt}", path)  # only this format in the folder
        target = Path(tmp) / "results.jsonl"
        assert run_files.locate(target) == path
        started = time.perf_counter()
        reader = run_files.iter_models if how == "models" else run_files.iter_rows
        count = sum(1 for _ in reader(target, RunRecord))
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"count": count, "seconds": seconds, "base_mib": base, "peak_mib": peak_rss_mib()}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="ct-pq-bench-"))
    try:
        print(f"{'n':>8} {'reader':>7} {'jsonl s':>8} {'parquet s':>10} {'ratio':>6} "
              f"{'jsonl peak MiB':>15} {'parquet peak MiB':>17} {'size jsonl/parquet':>19}")  # fmt: skip
        for n in sizes:
            folder = prepare(root, n)
            ratio_size = (folder / "results.jsonl").stat().st_size / (
                folder / "results.parquet"
            ).stat().st_size
            for how in ("models", "rows"):
                j = run_child("parquet_read.py", ["--child", str(folder), "jsonl", how])
                p = run_child("parquet_read.py", ["--child", str(folder), "parquet", how])
                assert j["count"] == p["count"] == n, (j, p)
                print(
                    f"{n:>8} {how:>7} {j['seconds']:>8.2f} {p['seconds']:>10.2f} "
                    f"{p['seconds'] / j['seconds']:>6.2f} {j['peak_mib']:>15.1f} "
                    f"{p['peak_mib']:>17.1f} {ratio_size:>19.1f}"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
