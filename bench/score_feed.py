"""Per-record CPU of scoring as records land: ``EvaluationSession.feed`` over N synthetic records.

The quickstart-like metric set (``exact_match``, ``token_f1``, ``contains``, ``refusal`` on the
``out_of_scope`` tag, ``pii_leak``, ``latency`` with ``max_ms``) scores N synthetic records,
fed one by one as the runner would (``feed(sample, record)``: the samples and records are
built before the clock starts), then ``finish`` builds the report. Each measurement runs in a
fresh child process with the ``src`` folder given by ``--src`` first on ``PYTHONPATH``, so
``--src /work/main/src --src src`` compares two checkouts in interleaved rounds. Prints the
median microseconds of CPU per record of ``feed`` (with and without the four reporters fed
the rows) and the seconds of ``finish``, and the ratios to the first ``--src``.

Usage: ``python bench/score_feed.py [--n 20000] [--rounds 3] [--src A --src B]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path

n, out, formats = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.common.schemas import RunRecord, TestSample
from chatbot_tester.evaluator.evaluate import EvaluationSession
from chatbot_tester.evaluator.metrics import MetricContext

metrics = [
    {"type": "exact_match"},
    {"type": "token_f1"},
    {"type": "contains", "value": "echo"},
    {"type": "refusal", "name": "handoff", "expect": "handoff", "only_tags": ["out_of_scope"]},
    {"type": "pii_leak"},
    {"type": "latency", "max_ms": 1000},
]
if sys.argv[4] == "exact":
    metrics = metrics[:1]
config = EvaluatorConfig.model_validate({"metrics": metrics, "report": {"formats": ["json"]}})
out.mkdir(parents=True, exist_ok=True)
samples, lines = [], []
for i in range(n):
    obj = {"id": f"s{i:06d}", "input": f"question {i}", "expected": f"echo: question {i}",
           "tags": ["out_of_scope" if i % 10 == 0 else "faq", f"group{i % 7}"]}
    lines.append(json.dumps(obj))
    samples.append(TestSample.model_validate(obj))
(out / "data.jsonl").write_text("\n".join(lines) + "\n")
records = []
t0 = 1_764_000_000.0
for i, sample in enumerate(samples):
    text = f"echo: question {i}" if i % 5 else f"Echo, the question {i}!"
    fields = {
        "sample_id": sample.id, "repeat": 0, "attempts": 1, "backend": "http",
        "started_at": t0 + i, "finished_at": t0 + i + 0.01,
        "response": {"text": text, "finish_reason": "stop",
                     "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}},
        "latency_ms": 3.0 + (i % 97) * 11.5,
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
        "model": "bench",
    }
    if i % 50 == 49:
        fields.pop("response"); fields.pop("latency_ms"); fields.pop("usage")
        fields["error"] = {"kind": "timeout", "message": "read timed out"}
    records.append(RunRecord.__pydantic_validator__.validate_python(fields))
with (out / "results.jsonl").open("wb") as fh:
    for r in records:
        fh.write(type(r).__pydantic_serializer__.to_json(r) + b"\n")

files = None
on_row = None
if formats != "none":
    from chatbot_tester.orchestrator.reports import ReportFiles
    files = ReportFiles(out, ["json", "html", "junit", "md"] if formats == "all" else [formats],
                        step_summary=False)
    files.__enter__()
    on_row = files.add
session = EvaluationSession(out / "data.jsonl", out / "results.jsonl", config, out,
                            context=MetricContext(workspace_dir=None, cache=False),
                            resume=False, on_row=on_row, validated=True).open()
feed = session.feed
c0 = time.process_time()
for sample, record in zip(samples, records):
    feed(sample, record)
c1 = time.process_time()
evaluation = asyncio.run(session.finish())
c2 = time.process_time()
if files is not None:
    files.finish(evaluation.report)
c3 = time.process_time()
print(json.dumps({"feed_us": (c1 - c0) / n * 1e6, "finish_s": c2 - c1, "reports_s": c3 - c2,
                  "scored": evaluation.scored_now}))
"""


def _child(src: str, n: int, formats: str, metrics: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="score_feed_") as tmp:
        env = {**os.environ, "PYTHONPATH": src}
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), str(Path(tmp) / "run"), formats, metrics],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        sys.exit(f"child failed ({src}, {formats}):\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", action="append", help="a src folder (repeat to compare)")
    parser.add_argument("--formats", default="none,all", help="reporters fed: none, json, all")
    parser.add_argument(
        "--metrics",
        default="quickstart",
        choices=["quickstart", "exact"],
        help="the six quickstart-like metrics, or exact_match alone (whole_run.py's set)",
    )
    args = parser.parse_args()
    srcs = args.src or [str(ROOT / "src")]
    formats = args.formats.split(",")
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for fmt in formats:
            for src in srcs:
                runs.setdefault((src, fmt), []).append(_child(src, args.n, fmt, args.metrics))
    print(
        f"N = {args.n}, metrics {args.metrics}, {args.rounds} rounds (medians); "
        "CPU (process_time) of the child"
    )
    print(
        f"{'src':<28} {'reports':<8} {'feed us/rec':>12} {'x first':>8} {'finish s':>9} {'reports s':>10}"
    )
    for fmt in formats:
        base = None
        for src in srcs:
            rows = runs[(src, fmt)]
            feed = statistics.median(r["feed_us"] for r in rows)
            base = feed if base is None else base
            fin = statistics.median(r["finish_s"] for r in rows)
            rep = statistics.median(r["reports_s"] for r in rows)
            print(
                f"{src[-28:]:<28} {fmt:<8} {feed:>12.1f} {feed / base:>7.2f}x {fin:>9.3f} {rep:>10.3f}"
            )


if __name__ == "__main__":
    main()
