"""examples/ci/gitlab-ci.yml: its script lines run as GitLab runs them, on a copy of the quickstart."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from e2e_helpers import QUICKSTART, ROOT
from junitparser import JUnitXml

EXAMPLE = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text(encoding="utf-8"))
JOB: dict[str, Any] = EXAMPLE["chatbot-tester"]


def _repo(tmp_path: Path, thresholds: list[str]) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(QUICKSTART, repo, ignore=shutil.ignore_patterns("workspace"))
    pipeline = repo / "pipeline.yaml"
    config = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
    config["evaluator"]["thresholds"] = thresholds
    pipeline.write_text(yaml.safe_dump(config), encoding="utf-8")
    return repo


def _run_job(repo: Path) -> tuple[int, str]:
    """The script lines in one shell, stopping at the first failure, then after_script."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(
        CI_PROJECT_DIR=str(repo),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PIP_NO_INDEX="1",  # the version in this venv satisfies `pip install chatbot-tester`
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in JOB["variables"].items()})
    env["PIP_CACHE_DIR"] = str(repo / ".cache" / "pip")
    script = "set -eo pipefail\n" + "\n".join(JOB["script"]) + "\n"
    proc = subprocess.run(
        ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    after = subprocess.run(
        ["bash", "-c", "\n".join(JOB["after_script"])],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.returncode == 0, after.stderr
    return proc.returncode, proc.stdout + proc.stderr + after.stdout


def _artifacts(repo: Path, pattern: str) -> list[Path]:
    return [Path(p) for p in glob.glob(str(repo / pattern))]


def test_job_shape() -> None:
    assert JOB["artifacts"]["when"] == "always"  # a failing run keeps its reports
    assert JOB["script"][0] == "python -m pip install chatbot-tester"
    assert any(line.startswith("chatbot-tester run ") for line in JOB["script"])


def test_script_runs_the_pipeline_and_produces_the_artifacts(tmp_path: Path) -> None:
    repo = _repo(tmp_path, ["latency.p95 <= 5000"])
    code, log = _run_job(repo)
    assert code == 0, log
    assert "Requirement already satisfied: chatbot-tester" in log
    (run_dir,) = _artifacts(repo, JOB["artifacts"]["paths"][0] + "*")
    assert (run_dir / "report.html").is_file()
    (junit_file,) = _artifacts(repo, JOB["artifacts"]["reports"]["junit"])
    suites = list(JUnitXml.fromfile(str(junit_file)))
    assert suites and sum(s.tests for s in suites) > 0
    assert "quickstart\\_support: passed" in log  # after_script printed report.md


def test_a_failing_run_fails_the_job_and_keeps_its_junit(tmp_path: Path) -> None:
    repo = _repo(tmp_path, ["exact_match.pass_rate >= 1.0"])
    code, log = _run_job(repo)
    assert code == 1, log
    (junit_file,) = _artifacts(repo, JOB["artifacts"]["reports"]["junit"])
    assert sum(s.failures for s in JUnitXml.fromfile(str(junit_file))) > 0
