"""Run ids, run directories, manifests and the never-overwrite rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_tester.common.artifacts.workspace import (
    MANIFEST,
    RESULTS,
    RUN_ID_PATTERN,
    RunDir,
    Workspace,
    new_run_id,
    validate_name,
    write_new,
)
from chatbot_tester.common.schemas import Manifest
from chatbot_tester.common.types import RunStatus
from chatbot_tester.errors import ConfigError, ResumeError


def test_run_ids_sortable_and_unique() -> None:
    ids = [new_run_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)  # creation order == lexical order, even within one millisecond
    assert all(RUN_ID_PATTERN.match(i) for i in ids)


def test_create_runs_listed_oldest_first(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert ws.list_runs() == []
    runs = [ws.create_run() for _ in range(20)]
    assert ws.list_runs() == runs
    assert all(r.path.is_dir() and not any(r.path.iterdir()) for r in runs)
    assert ws.open_run("latest") == runs[-1]


def test_open_run_by_id_and_path(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    run = ws.create_run()
    assert ws.open_run(run.run_id) == run
    assert ws.open_run(str(run.path)).path == run.path.resolve()
    with pytest.raises(ResumeError, match="did you mean"):
        ws.open_run(run.run_id[:-1] + ("0" if run.run_id[-1] != "0" else "1"))
    with pytest.raises(ResumeError):
        ws.open_run(str(tmp_path / "nowhere" / "run"))
    with pytest.raises(ResumeError):
        ws.open_run("bad\x00id")


def test_workspace_dirs(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert not ws.root.exists()  # constructing touches nothing
    assert ws.datasets_dir == tmp_path / "ws" / "datasets" and not ws.datasets_dir.exists()
    assert ws.cache_dir == tmp_path / "ws" / "cache" and ws.cache_dir.is_dir()
    assert ws.runs_dir == tmp_path / "ws" / "runs"


def test_manifest_round_trip_refreshes_updated_at(tmp_path: Path) -> None:
    run = Workspace(tmp_path).create_run()
    manifest = Manifest(run_id=run.run_id, pipeline="p")
    before = manifest.updated_at
    run.write_manifest(manifest)
    assert manifest.updated_at >= before
    manifest.status = RunStatus.COMPLETED
    run.write_manifest(manifest)
    back = run.read_manifest()
    assert back.status is RunStatus.COMPLETED and back.updated_at == manifest.updated_at
    assert sorted(p.name for p in run.path.iterdir()) == [MANIFEST]


def test_read_manifest_errors(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    with pytest.raises(ResumeError, match=r"no manifest\.json"):
        run.read_manifest()
    (tmp_path / MANIFEST).write_text('{"pipeline": "p"}')
    with pytest.raises(ResumeError, match="run_id"):
        run.read_manifest()


def test_write_new_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "a" / "f.txt"
    write_new(path, "first")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        write_new(path, b"second")
    assert path.read_text() == "first"
    run = RunDir(tmp_path)
    run.write_new(RESULTS, b"x\n")
    with pytest.raises(ConfigError):
        run.write_new(RESULTS, b"y\n")
    assert run.file(RESULTS).read_bytes() == b"x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", RESULTS]


@pytest.mark.parametrize(
    "bad", ["", "   ", "a/b", "a\\b", "..", "../x", "x..y", "a\x00b", "a\nb", "tab\there", "\x7f"]
)
def test_validate_name_rejects(bad: str) -> None:
    with pytest.raises(ConfigError):
        validate_name(bad, "dataset id")
    with pytest.raises(ConfigError):
        RunDir(Path("/tmp")).file(bad)


@pytest.mark.parametrize("good", ["faq", "my-dataset_v2", "report.html", "données", "x.y"])
def test_validate_name_accepts(good: str) -> None:
    assert validate_name(good, "dataset id") == good
