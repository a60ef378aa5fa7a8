"""Never lose a sample, never duplicate one: cancellation, SIGKILL and resume."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from pathlib import Path

import pytest
from runner_test_helpers import keys, openai_config, records, samples, write_dataset

from chatbot_tester.errors import ResumeError
from chatbot_tester.runner import read_records, run_job
from chatbot_tester.testing.server import FaultPlan


def complete_prefix(data: bytes) -> bytes:
    """The bytes up to and including the last newline (a torn tail is dropped on resume)."""
    return data[: data.rfind(b"\n") + 1]


async def wait_for_lines(path: Path, n: int) -> None:
    for _ in range(2000):
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{path} never reached {n} lines")


async def test_cancel_then_resume_matches_a_clean_run(tmp_path: Path, fault_server_factory) -> None:
    srv = await fault_server_factory(latency_ms=15)
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(80))
    out = tmp_path / "results.jsonl"
    cfg = openai_config(srv.base_url, concurrency=4)
    task = asyncio.create_task(run_job(dataset, cfg, out))
    await wait_for_lines(out, 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    before = out.read_bytes()
    assert before.endswith(b"\n")  # closed cleanly: no torn line
    first = keys(out)
    assert len(first) == len(set(first)) and 20 <= len(first) < 80
    sent_before = dict(srv.stats.attempts)

    with pytest.raises(ResumeError):
        await run_job(dataset, cfg, out)  # an existing file needs resume=True
    summary = await run_job(dataset, cfg, out, resume=True)
    after = out.read_bytes()
    assert after.startswith(before)  # earlier bytes unchanged
    final = keys(out)
    assert sorted(final) == sorted((f"s{i}", 0) for i in range(80))
    assert len(final) == len(set(final))
    assert summary.skipped_existing == len(first)
    assert summary.completed == 80 - len(first)
    assert summary.ok == 80 and summary.errors == 0
    stats = srv.stats.attempts
    for sid, _ in first:  # already-completed samples were not sent again
        assert stats[sid] == sent_before[sid] == 1

    # Resuming a finished run sends nothing.
    requests = srv.stats.requests
    summary = await run_job(dataset, cfg, out, resume=True)
    assert summary.completed == 0 and summary.skipped_existing == 80
    assert srv.stats.requests == requests
    assert out.read_bytes() == after


async def test_torn_tail_is_repaired_on_resume(tmp_path: Path, fault_server) -> None:
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(10))
    out = tmp_path / "results.jsonl"
    cfg = openai_config(fault_server.base_url)
    await run_job(samples(4), cfg, out)
    good = out.read_bytes()
    out.write_bytes(good + b'{"schema_version":1,"sample_id":"s4","repe')
    summary = await run_job(dataset, cfg, out, resume=True)
    assert out.read_bytes().startswith(good)
    assert sorted(keys(out)) == sorted((f"s{i}", 0) for i in range(10))
    assert summary.skipped_existing == 4 and summary.completed == 6
    assert [r.sample_id for r in read_records(out)][:4] == ["s0", "s1", "s2", "s3"]


def test_read_records_dedupes_first_wins(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    lines = [
        b'{"sample_id":"a","repeat":0,"backend":"x","attempts":1}',
        b'{"sample_id":"a","repeat":1,"backend":"x"}',
        b'{"sample_id":"a","repeat":0,"backend":"x","attempts":9}',
    ]
    out.write_bytes(b"\n".join(lines) + b"\n" + b'{"sample_id":"b"')
    got = list(read_records(out))
    assert [(r.sample_id, r.repeat, r.attempts) for r in got] == [("a", 0, 1), ("a", 1, 1)]


RUNNER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.runner import run_job

cfg = RunnerConfig.model_validate_json(Path(sys.argv[1]).read_text())
asyncio.run(run_job(Path(sys.argv[2]), cfg, Path(sys.argv[3]), resume=True))
"""


@pytest.mark.slow
async def test_sigkill_at_random_moments_then_resume(tmp_path: Path, fault_server_factory) -> None:
    srv = await fault_server_factory(FaultPlan(rate=0.1, modes=("500",), seed=1), latency_ms=5)
    n = 300
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(n))
    out = tmp_path / "results.jsonl"
    cfg_path = tmp_path / "runner.json"
    cfg_path.write_text(openai_config(srv.base_url, concurrency=4).model_dump_json())
    script = tmp_path / "run_it.py"
    script.write_text(RUNNER_SCRIPT)
    argv = [sys.executable, str(script), str(cfg_path), str(dataset), str(out)]
    rng = random.Random(42)
    previous = b""
    kills = 0
    for _ in range(4):
        proc = await asyncio.create_subprocess_exec(*argv)
        # Kill once some records exist (plus a random extra moment), unless it already finished.
        start = out.read_bytes().count(b"\n") if out.exists() else 0
        for _ in range(3000):
            if proc.returncode is not None:
                break
            if out.exists() and out.read_bytes().count(b"\n") > start:
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(rng.uniform(0.0, 0.15))
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        await proc.wait()
        data = out.read_bytes() if out.exists() else b""
        assert complete_prefix(data).startswith(complete_prefix(previous))
        done = keys(Path(out)) if complete_prefix(data) == data else None
        if done is not None:
            assert len(done) == len(set(done))
        previous = data
        snapshot = dict(srv.stats.attempts)
        recorded = {r.sample_id: r.attempts for r in read_records(out)} if data else {}
        for sid, attempts in recorded.items():
            assert snapshot[sid] >= attempts
        if proc.returncode == 0:
            break
    assert kills >= 1
    recorded_before_final = {r.sample_id for r in read_records(out)}
    snapshot = dict(srv.stats.attempts)
    proc = await asyncio.create_subprocess_exec(*argv)
    assert await proc.wait() == 0
    assert complete_prefix(out.read_bytes()).startswith(complete_prefix(previous))
    final = keys(out)
    assert len(final) == len(set(final)) == n
    recs = records(out)
    assert all(
        rec.ok or rec.attempts == 4 for rec in recs.values()
    )  # errors only when retries ran out
    stats = srv.stats.attempts
    for sid in recorded_before_final:  # never sent again once recorded
        assert stats[sid] == snapshot[sid]
