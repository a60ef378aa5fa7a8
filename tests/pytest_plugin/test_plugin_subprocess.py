"""The pytest plugin, run for real: pytest in a subprocess on a copy of the quickstart."""

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
    shutil.copytree(QUICKSTART, project)
    (project / "test_own.py").write_text(
        "import pytest\n\n"
        "pytestmark = pytest.mark.ct_pipeline('pipeline.yaml')\n\n"
        "def test_marker(ct_sample, ct_backend):\n"
        "    assert ct_sample.id.startswith('q')\n"
        "    assert isinstance(ct_backend(ct_sample.input), str)\n",
        encoding="utf-8",
    )
    return project


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_samples_are_items_selectable_with_k_and_reported_in_junit(tmp_path: Path) -> None:
    project = _project(tmp_path)
    junit = tmp_path / "junit.xml"
    proc = _pytest(
        project, "--ct-pipeline", "pipeline.yaml", "-k", "q01 or q03", f"--junitxml={junit}", "-q"
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    cases = ET.parse(junit).getroot().iter("testcase")
    names = sorted(c.get("name", "") for c in cases)
    assert any(n.endswith("q01") for n in names) and any(n.endswith("q03") for n in names)
    assert not any(n.endswith("q02") for n in names)
    assert "deselected" in proc.stdout


def test_x_stops_at_the_first_failing_sample_and_shows_answer_and_scores(tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc = _pytest(project, "--ct-pipeline", "pipeline.yaml", "-x", "pipeline.yaml")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "stopping after 1 failures" in out
    assert "exact_match" in out  # every score is shown with its reason
    assert "1 failed" in out


def test_marker_and_fixtures_run_once_per_sample(tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc = _pytest(project, "test_own.py", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "43 passed" in proc.stdout  # one test per sample of the quickstart
