"""``chatbot-tester execute``: exit codes, the results path on stdout, resume."""

from __future__ import annotations

from pathlib import Path

from runner_test_helpers import keys, samples, write_dataset

from chatbot_tester.cli.main import main
from chatbot_tester.testing.server import FaultPlan, FaultServer


def pipeline(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"""
name: cli-test
generator:
  source: dataset.jsonl
runner:
  backend: openai
  model: test-model
  concurrency: 4
  timeout_s: 5
  retries: 1
  backoff: {{initial_s: 0.01, max_s: 0.02}}
  options:
    base_url: {base_url}
    api_key: "${{CT_TEST_KEY:-key-for-tests-1234}}"
    sample_id_header: X-Sample-Id
{extra}
"""
    )
    return path


def run_cli(args: list[str]) -> int:
    """Exit code as the console script would see it (``sys.exit(main())``)."""
    try:
        result = main(args)
    except SystemExit as exc:
        return int(exc.code) if exc.code is not None else 0
    return int(result or 0)


def test_execute_writes_results_and_resumes(
    tmp_path: Path, fault_server_thread: FaultServer, capsys
) -> None:
    pipe = pipeline(tmp_path, fault_server_thread.base_url)
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(12))
    out = tmp_path / "out" / "results.jsonl"
    assert run_cli(["execute", str(pipe), "--dataset", str(dataset), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1] == str(out)
    assert "12 ok" in captured.err
    assert sorted(keys(out)) == sorted((f"s{i}", 0) for i in range(12))
    # Without --resume an existing results file is refused (exit 2), with it nothing is resent.
    assert run_cli(["execute", str(pipe), "--dataset", str(dataset), "-o", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    requests = fault_server_thread.stats.requests
    args = ["execute", str(pipe), "--dataset", str(dataset), "-o", str(out), "--resume"]
    assert run_cli([*args, "--concurrency", "2"]) == 0
    assert fault_server_thread.stats.requests == requests
    assert len(keys(out)) == 12


def test_execute_exit_1_on_error_rate_and_2_on_bad_key(tmp_path: Path, capsys) -> None:
    plan = FaultPlan(always_fail_ids=frozenset({"s1", "s2"}), modes=("500",))
    with FaultServer(plan).run_in_thread() as srv:
        dataset = write_dataset(tmp_path / "dataset.jsonl", samples(10))
        out = tmp_path / "r1.jsonl"
        pipe = pipeline(tmp_path, srv.base_url, "  max_error_rate: 0.1")
        assert run_cli(["execute", str(pipe), "--dataset", str(dataset), "-o", str(out)]) == 1
        captured = capsys.readouterr()
        assert "2 of 10 samples ended in errors" in captured.err
        assert captured.out.strip().splitlines()[-1] == str(out)
        out2 = tmp_path / "r2.jsonl"
        pipe = pipeline(tmp_path, srv.base_url, "  max_error_rate: 0.25")
        assert run_cli(["execute", str(pipe), "--dataset", str(dataset), "-o", str(out2)]) == 0
    with FaultServer(api_key="another-key-5678").run_in_thread() as srv:
        pipe = pipeline(tmp_path, srv.base_url)
        out3 = tmp_path / "r3.jsonl"
        assert run_cli(["execute", str(pipe), "--dataset", str(dataset), "-o", str(out3)]) == 2
        err = capsys.readouterr().err
        assert "every first request failed with 401 auth" in err
        assert "key-for-tests-1234" not in err
        assert srv.stats.requests < 10


def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    with FaultServer(latency_ms=50).run_in_thread() as srv:
        pipe = pipeline(tmp_path, srv.base_url)
        n = 100
        dataset = write_dataset(tmp_path / "dataset.jsonl", samples(n))
        out = tmp_path / "results.jsonl"
        cmd = [sys.executable, "-m", "chatbot_tester", "execute", str(pipe)]
        cmd += ["--dataset", str(dataset), "-o", str(out), "--concurrency", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3000):
            if out.exists() and out.read_bytes().count(b"\n") >= 5:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert b"--resume" in err
        data = out.read_bytes()
        assert data.endswith(b"\n")
        first = keys(out)
        assert 5 <= len(first) < n and len(first) == len(set(first))
        resumed = subprocess.run([*cmd, "--resume"], capture_output=True, timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        assert out.read_bytes().startswith(data)
        final = keys(out)
        assert len(final) == len(set(final)) == n
