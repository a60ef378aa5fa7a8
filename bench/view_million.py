"""`chatbot-tester view` on a 1,000,000-sample run: first page time and server RSS.

Writes a synthetic run (dataset, results, scores, manifest, report) of N samples, starts
`chatbot-tester view` on it in a subprocess, and measures: the time from the first request
to the run page's first sample rows (served from the head of the files while the index is
built), the time until the sample index is ready (a filtered page answers), a filtered page
and a drill-down once it is, and the server's peak RSS. `python bench/view_million.py [N]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import psutil

RUN_ID = "20260101T000000000Z-abcdef"


def write_run(root: Path, n: int) -> Path:
    run = root / "runs" / RUN_ID
    run.mkdir(parents=True)
    with (
        (run / "dataset.jsonl").open("wb") as d,
        (run / "results.jsonl").open("wb") as r,
        (run / "scores.jsonl").open("wb") as s,
    ):
        for i in range(n):
            sid = f"s{i:07d}"
            d.write(orjson.dumps({"schema_version": 1, "id": sid, "input": f"question {i}",
                                  "expected": f"answer {i}", "tags": [f"t{i % 5}"]}) + b"\n")  # fmt: skip
            r.write(orjson.dumps({"schema_version": 1, "sample_id": sid, "repeat": 0,
                                  "response": {"text": f"answer {i}"}, "latency_ms": 10 + i % 90,
                                  "backend": "echo"}) + b"\n")  # fmt: skip
            s.write(orjson.dumps({"schema_version": 1, "sample_id": sid, "repeat": 0,
                                  "metric": "exact_match", "value": float(i % 7 != 0),
                                  "passed": i % 7 != 0, "reason": "r"}) + b"\n")  # fmt: skip
    now = "2026-01-01T00:00:00+00:00"
    manifest = {"run_id": RUN_ID, "pipeline": "million", "status": "completed",
                "created_at": now, "updated_at": now, "counts": {"samples": n, "records": n}}  # fmt: skip
    (run / "manifest.json").write_bytes(orjson.dumps(manifest))
    report = {"run_id": RUN_ID, "pipeline": "million", "passed": True,
              "metrics": {"exact_match": {"mean": 6 / 7, "pass_rate": 6 / 7}},
              "totals": {"samples": n, "errors": 0}}  # fmt: skip
    (run / "report.json").write_bytes(orjson.dumps(report))
    return run


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        write_run(root, n)
        print(f"wrote a {n:,}-sample run in {time.perf_counter() - t:.1f} s")
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot_tester", "view", str(root)],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            ps = psutil.Process(proc.pid)
            peak = 0
            t0 = time.perf_counter()
            run = httpx.get(url + f"api/runs/{RUN_ID}", timeout=60).json()
            page = httpx.get(url + f"api/runs/{RUN_ID}/samples", timeout=60).json()
            first = time.perf_counter() - t0
            assert run["entry"]["run_id"] == RUN_ID and len(page["rows"]) == 50
            print(f"run page + first 50 samples: {first:.3f} s (index ready: {page['ready']})")
            while True:
                peak = max(peak, ps.memory_info().rss)
                page = httpx.get(url + f"api/runs/{RUN_ID}/samples",
                                 params={"status": "fail", "offset": n // 2}, timeout=60).json()  # fmt: skip
                if page["ready"]:
                    break
                time.sleep(0.5)
            print(f"index ready after {time.perf_counter() - t0:.1f} s; {page['total']:,} failing")
            t = time.perf_counter()
            httpx.get(
                url + f"api/runs/{RUN_ID}/samples", params={"q": "question 99999"}, timeout=60
            )
            print(f"search page: {time.perf_counter() - t:.3f} s")
            t = time.perf_counter()
            httpx.get(url + f"api/runs/{RUN_ID}/samples/s{n - 1:07d}/0", timeout=60)
            print(f"drill-down of the last sample: {time.perf_counter() - t:.3f} s")
            peak = max(peak, ps.memory_info().rss)
            print(f"server peak RSS: {peak / 2**20:.0f} MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
