"""Start-up cost of the CLI: `chatbot-tester --help` versus `python -c pass`.

Runs each command N times in fresh processes and prints the medians and their ratio.
Usage: python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = _median_seconds([sys.executable, "-c", "pass"], args.runs)
    help_ = _median_seconds([sys.executable, "-m", "chatbot_tester", "--help"], args.runs)
    version = _median_seconds([sys.executable, "-m", "chatbot_tester", "--version"], args.runs)
    print(f"python -c pass            {base * 1000:7.1f} ms")
    print(f"chatbot-tester --help     {help_ * 1000:7.1f} ms   ratio {help_ / base:4.2f}x")
    print(f"chatbot-tester --version  {version * 1000:7.1f} ms   ratio {version / base:4.2f}x")


if __name__ == "__main__":
    main()
