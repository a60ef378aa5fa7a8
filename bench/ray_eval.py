"""Scoring time of ``evaluator.executor: ray`` with 1 and 2 workers vs a local evaluation.

Two workloads over the same N records (evaluate_run, a fresh output folder each time):

- ``cpu``: a ``python`` metric burning ``--cpu-ms`` of CPU per record (a slow custom metric:
  locally it runs in the driver's one process; on Ray in every worker at once);
- ``judge``: ``llm_judge`` against the loopback test server (in a thread) answering after
  ``--latency-ms``, at ``judge.concurrency: --judge-concurrency``. The limit is shared by all
  workers, so Ray should match local here, near the bound ``concurrency / latency``.

Prints seconds and the ratio to local from one run each (a Ray warm-up evaluation first, so
cluster start-up, worker start-up and imports are not timed).

Usage: python bench/ray_eval.py [--n 400] [--cpu-ms 10] [--latency-ms 200] [--judge-concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

BURN = """
import time


def burn(sample, record, ms=10.0):
    end = time.process_time() + ms / 1000
    x = 0
    while time.process_time() < end:
        x += 1
    return len(record.response.text) > 0
"""


def _grader(messages: list[dict[str, Any]]) -> str:
    return '{"score": 5, "reason": "fine"}'


def _write(root: Path, n: int) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    dataset, results = root / "dataset.jsonl", root / "results.jsonl"
    with dataset.open("wb") as d, results.open("wb") as r:
        for i in range(n):
            d.write(orjson.dumps({"id": f"s{i}", "input": f"q{i}", "expected": "a"}) + b"\n")
            rec = {"sample_id": f"s{i}", "backend": "b", "response": {"text": f"answer {i}"}}
            r.write(orjson.dumps(rec) + b"\n")
    return dataset, results


def _evaluate(config: Any, context: Any, dataset: Path, results: Path, out: Path) -> float:
    from chatbot_tester.evaluator import evaluate_run

    started = time.perf_counter()
    evaluation = asyncio.run(evaluate_run(dataset, results, config, out, context=context))
    seconds = time.perf_counter() - started
    for name, m in evaluation.report.metrics.items():
        assert m.errors == 0 and m.scored == m.total, (name, m)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--cpu-ms", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--judge-concurrency", type=int, default=16)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only
    import ray

    from chatbot_tester.common.config import EvaluatorConfig, JudgeConfig
    from chatbot_tester.evaluator.metrics.base import MetricContext
    from chatbot_tester.testing.server import FaultServer

    ray.init(
        num_cpus=max(workers), include_dashboard=False, logging_level=logging.WARNING,
        log_to_driver=False,
    )  # fmt: skip
    rows: list[tuple[str, str, float]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        FaultServer(responder=_grader, latency_ms=args.latency_ms).run_in_thread() as server,
    ):
        root = Path(tmp)
        (root / "burn.py").write_text(BURN)
        dataset, results = _write(root / "run", args.n)
        judge = JudgeConfig(
            backend="openai",
            model="judge",
            options={"base_url": server.base_url, "api_key": "sk-bench"},
            concurrency=args.judge_concurrency,
        )
        context = MetricContext(judge=judge, base_dir=root, cache=False)
        metrics = {
            "cpu": {
                "type": "python",
                "function": "burn.py:burn",
                "kwargs": {"ms": args.cpu_ms},
            },
            "judge": {"type": "llm_judge"},
        }

        def config(metric: str, w: int | None, n: int) -> EvaluatorConfig:
            extra: dict[str, Any] = {}
            if w is not None:
                size = max(1, -(-n // w))  # one shard per worker: no tail rounds per shard
                extra = {"executor": "ray", "ray": {"num_workers": w, "shard_size": size}}
            return EvaluatorConfig.model_validate({"metrics": [metrics[metric]], **extra})

        warm_d, warm_r = _write(root / "warm", 8 * max(workers))
        for metric in metrics:
            _evaluate(config(metric, max(workers), 8), context, warm_d, warm_r, root / "w" / metric)
        for metric in metrics:
            out = root / "out" / metric
            rows.append((metric, "local", _evaluate(config(metric, None, args.n), context, dataset, results, out / "l")))  # fmt: skip
            for w in workers:
                seconds = _evaluate(
                    config(metric, w, args.n), context, dataset, results, out / str(w)
                )
                rows.append((metric, f"ray-{w}", seconds))
    ray.shutdown()
    bound = args.judge_concurrency / (args.latency_ms / 1000)
    print(
        f"n={args.n} cpu={args.cpu_ms:g} ms/record judge latency={args.latency_ms:g} ms "
        f"concurrency={args.judge_concurrency} (bound {bound:.0f}/s) cpus={os.cpu_count()}"
    )
    print(f"{'workload':<8} {'variant':<8} {'seconds':>8} {'rec/s':>8} {'x local':>8}")
    local = {m: s for m, v, s in rows if v == "local"}
    for metric, variant, seconds in rows:
        ratio = local[metric] / seconds
        print(f"{metric:<8} {variant:<8} {seconds:8.2f} {args.n / seconds:8.0f} {ratio:8.2f}")


if __name__ == "__main__":
    main()
