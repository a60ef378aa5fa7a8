"""The pytest plugin with pytest's cache (``--lf``) and with pytest-xdist (``-n 2``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns("workspace"))
    return project


def _pytest(project: Path, junit: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cache = project.parent / "pytest-cache"  # the cache provider on, in the tmp dir
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:randomly",
            "-o",
            f"cache_dir={cache}",
            "--ct-pipeline",
            "pipeline.yaml",
            f"--junitxml={junit}",
            "-q",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _outcomes(junit: Path) -> dict[str, str]:
    """Sample id -> passed/failed/error/skipped of every case that ran."""
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        out[case.get("name", "")] = kinds[0] if kinds else "passed"
    return out


def test_lf_reruns_only_the_failed_samples(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = _pytest(project, tmp_path / "first.xml")
    assert first.returncode == 1, first.stdout + first.stderr
    everything = _outcomes(tmp_path / "first.xml")
    failed = {name for name, kind in everything.items() if kind == "failure"}
    assert failed and len(failed) < len(everything) == 43

    again = _pytest(project, tmp_path / "again.xml", "--lf")
    assert again.returncode == 1, again.stdout + again.stderr
    rerun = _outcomes(tmp_path / "again.xml")
    assert set(rerun) == failed  # the failures, and nothing that passed
    assert set(rerun.values()) == {"failure"}
    assert again.stdout.rstrip().splitlines()[-1].startswith(f"{len(failed)} failed in ")

    narrowed = _pytest(project, tmp_path / "fixed.xml", "--lf", "-k", "not " + min(failed))
    assert narrowed.returncode == 1, narrowed.stdout
    assert set(_outcomes(tmp_path / "fixed.xml")) == failed - {min(failed)}


def test_xdist_n2_runs_every_sample_once_with_the_same_outcomes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    serial = _pytest(project, tmp_path / "serial.xml", "-p", "no:xdist")
    parallel = _pytest(project, tmp_path / "parallel.xml", "-n", "2")
    assert parallel.returncode == serial.returncode == 1, parallel.stdout + parallel.stderr
    assert "bringing up nodes" in parallel.stdout
    names = [c.get("name") for c in ET.parse(tmp_path / "parallel.xml").getroot().iter("testcase")]
    assert len(names) == len(set(names)) == 43  # every sample once, across the workers
    assert _outcomes(tmp_path / "parallel.xml") == _outcomes(tmp_path / "serial.xml")
