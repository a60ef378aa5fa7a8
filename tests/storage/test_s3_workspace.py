"""The quickstart, evaluate, compare and a kill -9/resume against s3:// on a loopback server."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"

pytestmark = pytest.mark.e2e


def _project(tmp_path: Path, workspace: str, extra: str = "") -> Path:
    dest = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, dest, ignore=shutil.ignore_patterns("workspace"))
    text = (dest / "pipeline.yaml").read_text()
    text = text.replace("workspace: ./workspace", f"workspace: {workspace}\n{extra}")
    (dest / "pipeline.yaml").write_text(text)
    return dest


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _s3() -> object:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem()


def _records(lines: list[bytes]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        rec = json.loads(line)
        out.append(
            (rec["sample_id"], rec.get("response", {}).get("text") if rec.get("response") else None)
        )
    return sorted(out)


def _remote_records(fs: object, run_prefix: str) -> list[bytes]:
    parts = sorted(p for p in fs.ls(run_prefix) if "results.part-" in p)  # type: ignore[attr-defined]
    lines: list[bytes] = []
    for part in parts:
        lines += fs.cat_file(part).splitlines()  # type: ignore[attr-defined]
    return lines


STORAGE = (
    "storage:\n  options:\n    client_kwargs:\n      endpoint_url: ${AWS_ENDPOINT_URL}\n"
    "  checkpoint_records: 5\n  checkpoint_seconds: 0.2\n"
)


def test_quickstart_evaluate_and_compare_on_s3(s3_server: str, tmp_path: Path) -> None:
    project = _project(tmp_path, "s3://evals/team", STORAGE)
    first = _cli("run", "pipeline.yaml", cwd=project)
    assert first.returncode == 0, first.stderr
    second = _cli("run", "pipeline.yaml", cwd=project)
    assert second.returncode == 0, second.stderr
    assert not (project / "s3:").exists()  # no local folder named after the URL
    fs = _s3()
    runs = sorted(p.rsplit("/", 1)[-1] for p in fs.ls("evals/team/runs"))  # type: ignore[attr-defined]
    assert len(runs) == 2
    names = {p.rsplit("/", 1)[-1] for p in fs.ls(f"evals/team/runs/{runs[0]}")}  # type: ignore[attr-defined]
    assert {
        "manifest.json",
        "dataset.jsonl",
        "scores.jsonl",
        "report.json",
        "events.jsonl",
    } <= names
    assert any(n.startswith("results.part-") for n in names)
    manifest = json.loads(fs.cat_file(f"evals/team/runs/{runs[0]}/manifest.json"))  # type: ignore[attr-defined]
    assert manifest["status"] == "completed"
    # the ${VAR} reference stays a reference; the endpoint's value is never written
    assert (
        manifest["config"]["storage"]["options"]["client_kwargs"]["endpoint_url"]
        == "${AWS_ENDPOINT_URL}"
    )
    # records identical to a local run
    local = _project(tmp_path / "local", "./workspace")
    assert _cli("run", "pipeline.yaml", cwd=local).returncode == 0
    local_results = next((local / "workspace" / "runs").iterdir()) / "results.jsonl"
    assert _records(_remote_records(fs, f"evals/team/runs/{runs[0]}")) == _records(
        local_results.read_bytes().splitlines()
    )
    # evaluate and compare read the runs back from the bucket (a fresh cache dir: no spool)
    os.environ["CHATBOT_TESTER_CACHE_DIR"] = str(tmp_path / "other-machine")
    ev = _cli("evaluate", runs[0], "--workspace", "s3://evals/team", "--no-resume", cwd=project)
    assert ev.returncode == 0, ev.stderr
    cmp = _cli("compare", runs[0], runs[1], "--workspace", "s3://evals/team", cwd=project)
    assert cmp.returncode == 0, cmp.stderr + cmp.stdout
    assert fs.exists(f"evals/team/runs/{runs[1]}/compare.json")  # type: ignore[attr-defined]
    listed = _cli("runs", "list", "--workspace", "s3://evals/team", "--json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert [e["run_id"] for e in json.loads(listed.stdout)] == runs


@pytest.mark.slow
def test_kill_9_then_resume_on_s3_sends_nothing_twice(s3_server: str, tmp_path: Path) -> None:
    project = _project(tmp_path, "s3://evals/k9", STORAGE)
    text = (project / "pipeline.yaml").read_text().replace("latency_ms: 40", "latency_ms: 300")
    (project / "pipeline.yaml").write_text(text.replace("concurrency: 8", "concurrency: 2"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fs = _s3()
    deadline = time.monotonic() + 60
    run_id = None
    while time.monotonic() < deadline and run_id is None:
        fs.invalidate_cache()  # type: ignore[attr-defined]
        if fs.exists("evals/k9/runs"):  # type: ignore[attr-defined]
            found = fs.ls("evals/k9/runs")  # type: ignore[attr-defined]
            if found:
                run_id = found[0].rsplit("/", 1)[-1]
        time.sleep(0.05)
    assert run_id is not None
    time.sleep(random.uniform(0.3, 2.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    fs.invalidate_cache()  # type: ignore[attr-defined]
    uploaded = _records(_remote_records(fs, f"evals/k9/runs/{run_id}"))
    os.environ["CHATBOT_TESTER_CACHE_DIR"] = str(tmp_path / "fresh-machine")
    resumed = _cli("run", "pipeline.yaml", "--resume", run_id, cwd=project, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    fs.invalidate_cache()  # type: ignore[attr-defined]
    final = _remote_records(fs, f"evals/k9/runs/{run_id}")
    ids = [json.loads(line)["sample_id"] for line in final]
    assert len(ids) == len(set(ids)) == 44 - 1  # every sample once (header line excluded)
    assert set(uploaded) <= set(_records(final))
