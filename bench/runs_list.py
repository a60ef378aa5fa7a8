"""`runs list` over 1,000 runs: time to refresh the index and list (target: under 0.3 s).

Builds 1,000 run directories (manifest + report) in a temp workspace, then times a cold
build of the index, a warm refresh + list (what every `runs list` does), and the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chatbot_tester.common.artifacts.run_index import open_index
from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.common.schemas import Manifest

N = 1000


def main() -> None:
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
        with open_index(ws) as index:
            index.entries()
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(5):
            t0 = time.perf_counter()
            with open_index(ws) as index:
                entries = index.entries()
            warm.append(time.perf_counter() - t0)
        assert len(entries) == N
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "chatbot_tester", "runs", "list", "--workspace", str(ws.root)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cli = time.perf_counter() - t0
    print(f"runs: {N}")
    print(f"cold index build: {cold:.3f} s")
    print(f"refresh + list (median of 5): {sorted(warm)[2]:.4f} s (target < 0.3 s)")
    print(f"`chatbot-tester runs list` process, start-up included: {cli:.3f} s")


if __name__ == "__main__":
    main()
