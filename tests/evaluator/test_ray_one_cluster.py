"""A pipeline whose runner and evaluator both use Ray starts one local cluster, not two."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_runner_and_evaluator_share_one_local_cluster(tmp_path: Path, fault_server_thread) -> None:
    n = 12
    (tmp_path / "dataset.jsonl").write_text(
        "".join(json.dumps({"id": f"s{i}", "input": f"q{i}", "expected": f"echo: q{i}"}) + "\n"
                for i in range(n))
    )  # fmt: skip
    ray = {"num_workers": 2, "shard_size": 4}
    pipeline = {
        "name": "one-cluster",
        "generator": {"source": "dataset.jsonl"},
        "runner": {
            "backend": "http",
            "options": {"url": fault_server_thread.base_url + "/chat/completions"},
            "model": "m",
            "executor": "ray",
            "ray": ray,
        },
        "evaluator": {"executor": "ray", "metrics": [{"type": "exact_match"}]},
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    # Ray's socket paths must stay short: its temp folder is a short one under /tmp
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml"],
            cwd=tmp_path,
            env={**os.environ, "RAY_TMPDIR": str(ray_tmp)},
            capture_output=True,
            text=True,
            timeout=280,
        )
        sessions = sorted(p.name for p in (ray_tmp / "ray").glob("session_2*"))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(sessions) == 1, sessions  # one local cluster served the run and the evaluation
    report = json.loads(next(tmp_path.glob("**/runs/*/report.json")).read_text())
    assert report["metrics"]["exact_match"]["passed"] == n, report["metrics"]
