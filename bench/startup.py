"""Start-up cost of the CLI: `--help`, `--version` and a one-sample `run`.

Each command runs N times in fresh processes; the table shows the median wall time and the
median CPU (user + system of the child, from ``os.wait4``: exact, no polling). The `run` is
the quickstart pipeline cut to one CSV row, demo backend at 0 ms, all four reports.

With ``--ab PATH`` the same commands also run with ``PYTHONPATH=PATH`` (another source tree,
e.g. an unpacked ``git archive main``), interleaved with this tree's runs (A, B, A, B, ...) so
that load changes on a shared machine hit both alike, and the CPU ratio this / other is printed.

``--callgrind`` runs each command once per tree under valgrind's callgrind instead and prints
the instructions executed: exact and independent of the machine's load (about 50x slower).

Usage: python bench/startup.py [--runs 20] [--ab /tmp/base/src] [--only run] [--callgrind]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"


def _one_sample_pipeline(folder: Path) -> Path:
    """The quickstart pipeline over its first CSV row, with the demo bot at 0 ms."""
    shutil.copy(QUICKSTART / "kb.yaml", folder / "kb.yaml")
    rows = (QUICKSTART / "raw.csv").read_text(encoding="utf-8").splitlines()[:2]
    (folder / "raw.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = (QUICKSTART / "pipeline.yaml").read_text(encoding="utf-8")
    text = text.replace("latency_ms: 40", "latency_ms: 0").replace("# yaml-language-server", "#")
    path = folder / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _measure(args: list[str], pythonpath: str, cwd: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh ``python -m chatbot_tester ARGS`` child."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed with PYTHONPATH={pythonpath}")
    return wall, usage.ru_utime + usage.ru_stime


def _instructions(args: list[str], pythonpath: str, cwd: Path) -> int:
    """Instructions executed by one ``python -m chatbot_tester ARGS`` under callgrind."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    out = subprocess.run(
        [*cmd, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from callgrind: {out.stderr[-500:]}")
    return int(found.group(1))


def _base_seconds(runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--ab", default="", help="another source tree to compare with")
    parser.add_argument("--only", default="", help="comma-separated subset: help,version,run")
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    args = parser.parse_args()
    trees = {"this": str(ROOT / "src")}
    if args.ab:
        trees["ab"] = args.ab
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        folder = Path(tmp)
        pipeline = _one_sample_pipeline(folder)
        commands = {"help": ["--help"], "version": ["--version"], "run": ["run", str(pipeline)]}
        if args.only:
            commands = {k: v for k, v in commands.items() if k in args.only.split(",")}
        for cmd in commands.values():  # warm-up: bytecode caches, dataset, OS caches
            for path in trees.values():
                _measure(cmd, path, folder)
        if args.callgrind:
            for name, cmd in commands.items():
                counts = {tree: _instructions(cmd, path, folder) for tree, path in trees.items()}
                line = "  ".join(f"{tree} {n / 1e6:8.1f} M" for tree, n in counts.items())
                ratio = f"  this/ab {counts['this'] / counts['ab']:.3f}" if args.ab else ""
                print(f"{name:<10} instructions: {line}{ratio}")
            return
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for i in range(args.runs):
            order = list(trees.items()) if i % 2 == 0 else list(reversed(trees.items()))
            for name, cmd in commands.items():
                for tree, path in order:
                    samples.setdefault((name, tree), []).append(_measure(cmd, path, folder))
        base = _base_seconds(args.runs)
    print(f"python -c pass: {base * 1000:.1f} ms wall; medians of {args.runs} runs")
    print(f"{'command':<10} {'tree':<5} {'wall ms':>8} {'CPU ms':>8} {'CPU min':>8} {'CPU x':>6}")
    for name in commands:
        cpus = {tree: [c for _, c in samples[(name, tree)]] for tree in trees}
        for tree in trees:
            walls = [w for w, _ in samples[(name, tree)]]
            cpu = statistics.median(cpus[tree])
            # CPU x: this tree's median CPU / the other tree's (below 1: this tree is cheaper)
            ratio = (
                f"{cpu / statistics.median(cpus['ab']):6.2f}" if tree == "this" and args.ab else ""
            )
            print(
                f"{name:<10} {tree:<5} {statistics.median(walls) * 1000:8.1f} "
                f"{cpu * 1000:8.1f} {min(cpus[tree]) * 1000:8.1f} {ratio:>6}"
            )


if __name__ == "__main__":
    main()
