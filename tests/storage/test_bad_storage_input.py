"""Bad workspace URLs and a corrupted index: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, workspace: str) -> Path:
    dest = tmp_path / "q"
    shutil.copytree(
        ROOT / "examples" / "quickstart", dest, ignore=shutil.ignore_patterns("workspace")
    )
    text = (
        (dest / "pipeline.yaml")
        .read_text()
        .replace("workspace: ./workspace", f"workspace: {workspace}")
    )
    (dest / "pipeline.yaml").write_text(text)
    return dest


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unknown_scheme_is_one_line_exit_2(tmp_path: Path) -> None:
    project = _project(tmp_path, "ftp://host/x")
    result = _run(project, "run", "pipeline.yaml")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown storage scheme 'ftp://'" in lines[0], result.stderr
    assert sorted(p.name for p in project.iterdir()) == sorted(
        p.name for p in (ROOT / "examples" / "quickstart").iterdir() if p.name != "workspace"
    )


def test_missing_bucket_is_one_line_exit_2(s3_server: str, tmp_path: Path) -> None:
    project = _project(tmp_path, "s3://no-such-bucket/x")
    result = _run(project, "run", "pipeline.yaml")
    assert result.returncode == 2
    assert "bucket 'no-such-bucket' does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupted_index_names_the_file_and_the_fix(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "runs").mkdir(parents=True)
    (ws / "index.sqlite").write_bytes(b"this is not a database" * 100)
    result = _run(tmp_path, "runs", "list", "--workspace", str(ws))
    assert result.returncode == 2
    assert "index.sqlite" in result.stderr and "delete it" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["memory://ws"])
def test_memory_workspace_round_trip(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatbot_tester.common.artifacts.remote_workspace import open_workspace

    monkeypatch.setenv("CHATBOT_TESTER_CACHE_DIR", str(tmp_path / "cache"))
    ws = open_workspace(url)
    run = ws.create_run()
    (run.path / "manifest.json").write_text(json.dumps({"run_id": run.run_id, "pipeline": "p"}))
    (run.path / "results.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    sync = ws.start_sync(run)
    with open(run.path / "results.jsonl", "a") as fh:
        fh.write('{"a": 3}\n')
    sync.close()
    shutil.rmtree(ws.root)
    again = open_workspace(url).open_run(run.run_id)
    assert (again.path / "results.jsonl").read_text().splitlines() == [
        '{"a": 1}',
        '{"a": 2}',
        '{"a": 3}',
    ]
