"""Cost of masking registered secrets at the writers, per results.jsonl record.

Every JSONL line, report chunk, cache entry and console write passes through
``common.redact.mask_secrets_bytes``; the runner writes ~10k records/s, so the common case
(no secret in the record) must cost a few microseconds. This prints µs/record for 0, 1 and
5 registered secrets, for records without a secret (the gate: one ``lower()`` and one
``in`` per secret) and with one (the gate plus the case-insensitive replacement), next to
a naive regex run on every record and the shape-based ``redact()``.

    .venv/bin/python bench/redaction.py [--records 20000]
"""

from __future__ import annotations

import argparse
import re
import time

from chatbot_tester.common.redact import (
    _forms,
    clear_secrets,
    mask_secrets_bytes,
    redact,
    register_secret,
)
from chatbot_tester.common.schemas import ChatResponse, RunRecord, Usage

SECRETS = [
    "sk-proj-Abc123Def456Ghi789Jkl012",
    "sk-ant-api03-ZyXwVu987654321",
    "ghp_0123456789abcdefghijABCDEFGHIJ",
    'pa/ss"w\\ord-Quux-4242',
    "AKIAIOSFODNN7EXAMPLE-secret",
]


def _records(n: int, secret: str | None) -> list[bytes]:
    out = []
    for i in range(n):
        text = f"Answer number {i}: the capital of France is Paris. " * 6
        if secret is not None:
            text += f" (your key is {secret})"
        record = RunRecord(
            sample_id=f"sample-{i:06d}",
            backend="openai",
            model="gpt-4o-mini",
            response=ChatResponse(
                text=text, usage=Usage(prompt_tokens=31, completion_tokens=70, total_tokens=101)
            ),
        )
        out.append(record.model_dump_json().encode() + b"\n")
    return out


def _time(fn: object, lines: list[bytes]) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for line in lines:
            fn(line)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best / len(lines) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    clean = _records(args.records, None)
    dirty = _records(args.records, SECRETS[0])
    size = sum(map(len, clean)) / len(clean)
    print(f"{args.records} records of ~{size:.0f} bytes; best of 5; µs per record")
    print(
        f"{'secrets':>7} {'forms':>5} {'no secret':>10} {'with one':>9} {'naive re':>9} {'ratio':>6}"
    )
    for count in (0, 1, 5):
        clear_secrets()
        for secret in SECRETS[:count]:
            register_secret(secret)
        forms = sorted({f for s in SECRETS[:count] for f in _forms(s)}, key=len, reverse=True)
        naive = (
            re.compile(b"|".join(re.escape(f.encode()) for f in forms), re.IGNORECASE)
            if forms
            else None
        )
        miss = _time(mask_secrets_bytes, clean)
        hit = _time(mask_secrets_bytes, dirty) if count else float("nan")
        if naive is not None:
            naive_us = _time(lambda b, p=naive: p.sub(b"***", b), clean)
            ratio = f"{naive_us / miss:5.0f}x"
        else:
            naive_us, ratio = float("nan"), "  -"
        print(f"{count:>7} {len(forms):>5} {miss:>10.2f} {hit:>9.2f} {naive_us:>9.2f} {ratio:>6}")
    clear_secrets()
    shaped = _time(lambda b: redact(b.decode()), clean[:2000])
    print(f"shape-based redact() (errors and logs only), no secret registered: {shaped:.2f} µs")


if __name__ == "__main__":
    main()
