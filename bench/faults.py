"""Fault tolerance check: 20% injected faults, 4 retries, nothing lost, nothing duplicated.

Runs ``run_job`` against the loopback server (own process) injecting faults into a fifth of
all requests (429 with and without Retry-After, 500, 503, connection resets, hangs, truncated
JSON, error bodies in a 200, HTML error pages), then verifies against the server's own
counters and its seeded fault plan:

- every sample has exactly one line in results.jsonl;
- a sample ends in an error only when all of its 1 + retries attempts were faulted, and
  every sample whose attempts were all faulted ends in an error;
- each record's ``attempts`` equals the attempts the server saw for that conversation;
- the server never saw more requests in flight than the configured concurrency.

Prints the counts and exits 1 when any check fails.
Usage: python bench/faults.py [--n 2000] [--rate 0.2] [--retries 4] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, runner_config, write_dataset

MODES = "429,429_ms,500,503,reset,hang,truncated_json,error_body,html"


def _conversation(i: int) -> str:
    """The server's conversation id of sample ``s<i>`` (hash of the messages sent)."""
    messages = [{"role": "user", "content": f"question {i}"}]
    return hashlib.blake2b(orjson.dumps(messages), digest_size=8).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--retries", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", default="http", choices=["http", "openai"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", default=MODES)
    args = parser.parse_args()

    from chatbot_tester.common.config import BackoffConfig
    from chatbot_tester.runner import run_job
    from chatbot_tester.testing.server import FaultPlan

    n, retries = args.n, args.retries
    plan = FaultPlan(rate=args.rate, modes=FaultPlan.parse_modes(args.modes), seed=args.seed)
    extra = {}
    if args.backend == "openai":
        extra = {"sample_id_header": "X-Sample-Id"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(
            fault_rate=args.rate, faults=args.modes, seed=args.seed, retry_after_s=0.05
        ) as server,
    ):
        dataset = write_dataset(Path(tmp) / "dataset.jsonl", n)
        results = Path(tmp) / "results.jsonl"
        config = runner_config(
            args.backend,
            server.url,
            args.concurrency,
            retries=retries,
            timeout_s=1.0,
            backoff=BackoffConfig(initial_s=0.05, max_s=0.5),
        )
        config.options.update(extra)
        t0 = time.perf_counter()
        summary = asyncio.run(run_job(dataset, config, results))
        seconds = time.perf_counter() - t0
        stats = server.stats()
        lines = [orjson.loads(line) for line in results.read_bytes().splitlines()]

    failures: list[str] = []
    per_sample = Counter(rec["sample_id"] for rec in lines)
    missing = n - len(per_sample)
    dupes = sum(1 for c in per_sample.values() if c > 1)
    if missing or dupes:
        failures.append(f"{missing} samples without a record, {dupes} recorded more than once")

    attempts_seen: dict[str, int] = stats["attempts"]
    by_id = {rec["sample_id"]: rec for rec in lines}
    conv = {f"s{i}": (f"s{i}" if args.backend == "openai" else _conversation(i)) for i in range(n)}
    mapped = sum(1 for sid in by_id if conv.get(sid) in attempts_seen)
    wrong_error = wrong_ok = wrong_attempts = 0
    if mapped == len(by_id):
        for sid, rec in by_id.items():
            seen = attempts_seen[conv[sid]]
            all_faulted = seen == retries + 1 and all(
                plan.choose(conv[sid], a) is not None for a in range(1, seen + 1)
            )
            if rec.get("error") and not all_faulted:
                wrong_error += 1
            if not rec.get("error") and all_faulted:
                wrong_ok += 1
            if rec.get("attempts") != seen:
                wrong_attempts += 1
        if wrong_error or wrong_ok:
            failures.append(
                f"{wrong_error} errors with retries left, {wrong_ok} answers after all attempts failed"
            )
        if wrong_attempts:
            failures.append(
                f"{wrong_attempts} records whose attempts differ from the server's count"
            )
    else:
        failures.append(
            f"only {mapped}/{len(by_id)} samples could be matched to server conversations"
        )
    if stats["max_in_flight"] > args.concurrency:
        failures.append(
            f"server saw {stats['max_in_flight']} in flight > concurrency {args.concurrency}"
        )

    total_faults = sum(stats["faults"].values())
    hist = Counter(attempts_seen.values())
    print(
        f"faults: n={n} rate={args.rate:.0%} retries={retries} concurrency={args.concurrency} backend={args.backend}"
    )
    print(
        f"run: {seconds:.1f} s, status {summary.status}, ok {summary.ok}, errors {summary.errors} {summary.errors_by_kind}"
    )
    print(
        f"server: {stats['requests']} requests, {stats['successes']} answered, {total_faults} faults injected ({total_faults / max(1, stats['requests']):.1%})"
    )
    print(f"  faults by mode: {dict(sorted(stats['faults'].items()))}")
    print(f"  attempts per sample: {dict(sorted(hist.items()))}")
    print(f"  max in flight: {stats['max_in_flight']} (limit {args.concurrency})")
    print(
        f"records: {len(lines)} lines for {len(per_sample)} samples; checked per sample: {mapped}"
    )
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        return 1
    print(
        "PASS: every sample recorded exactly once; errors exactly where retries ran out; concurrency held"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
