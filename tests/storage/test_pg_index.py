"""A run index shared through a real PostgreSQL server on 127.0.0.1 (``index_url``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
PASSWORD_VAR = "CT_TEST_PG_PASSWORD"


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _project(dest: Path, name: str, index_url: str) -> Path:
    shutil.copytree(QUICKSTART, dest, ignore=shutil.ignore_patterns("workspace"))
    text = (dest / "pipeline.yaml").read_text()
    text = text.replace("name: quickstart_support", f"name: {name}")
    text = text.replace("workspace: ./workspace", f"workspace: ./workspace\nindex_url: {index_url}")
    text = text.replace("latency_ms: 40", "latency_ms: 0")
    (dest / "pipeline.yaml").write_text(text)
    return dest


def _with_var(url: str, password: str) -> str:
    """``url`` with its password replaced by the ``${CT_TEST_PG_PASSWORD}`` reference."""
    return url.replace(f":{password}@", f":${{{PASSWORD_VAR}}}@")


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.e2e
def test_two_workspaces_record_into_one_postgres_index(
    pg_url: str, pg_cluster: object, tmp_path: Path
) -> None:
    password = pg_cluster.password  # type: ignore[attr-defined]
    url_ref = _with_var(pg_url, password)
    env = {PASSWORD_VAR: password}
    first = _project(tmp_path / "team-a", "support_a", url_ref)
    second = _project(tmp_path / "team-b", "support_b", url_ref)
    for project in (first, second):
        done = _cli("run", "pipeline.yaml", cwd=project, env=env)
        assert done.returncode == 0, done.stderr
    assert _cli("run", "pipeline.yaml", cwd=second, env=env).returncode == 0
    elsewhere = tmp_path / "elsewhere"  # no workspace here: the index alone answers
    elsewhere.mkdir()
    listed = _cli("runs", "list", "--index-url", pg_url, "--json", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [e["pipeline"] for e in entries] == ["support_a", "support_b", "support_b"]
    host = socket.gethostname()
    assert {e["workspace"] for e in entries} == {
        f"{host}:{(first / 'workspace').resolve()}",
        f"{host}:{(second / 'workspace').resolve()}",
    }
    assert all(e["status"] == "completed" and e["evaluated"] for e in entries)
    assert entries[0]["metrics"]["exact_match"]["pass_rate"] is not None
    # filters
    only_b = _cli(
        "runs", "list", "--index-url", pg_url, "--pipeline", "support_b", "--json", cwd=elsewhere
    )
    assert [e["run_id"] for e in json.loads(only_b.stdout)] == [e["run_id"] for e in entries[1:]]
    failed = _cli("runs", "list", "--index-url", pg_url, "--status", "failed", cwd=elsewhere)
    assert failed.returncode == 0 and failed.stdout == "" and "no runs" in failed.stderr
    # the URL may come from the environment, and may carry ${VAR}
    text = _cli("runs", "list", cwd=elsewhere, env={**env, "CHATBOT_TESTER_INDEX_URL": url_ref})
    assert text.returncode == 0, text.stderr
    assert (
        len(text.stdout.splitlines()) == 3 and "team-a" in text.stdout and "team-b" in text.stdout
    )
    # tag a run of workspace A from elsewhere: tags.json lands in its run directory
    run_a = entries[0]["run_id"]
    tagged = _cli("runs", "tag", run_a, "release", "--index-url", pg_url, cwd=elsewhere)
    assert tagged.returncode == 0, tagged.stderr
    tags_file = first / "workspace" / "runs" / run_a / "tags.json"
    assert json.loads(tags_file.read_text()) == ["release"]
    by_tag = _cli(
        "runs", "list", "--index-url", pg_url, "--tag", "release", "--json", cwd=elsewhere
    )
    assert [e["run_id"] for e in json.loads(by_tag.stdout)] == [run_a]
    shown = _cli("runs", "show", "release", "--index-url", pg_url, cwd=elsewhere)
    assert json.loads(shown.stdout)["pipeline"] == "support_a"
    # a run deleted from workspace B leaves the index at B's next refresh (A's rows stay)
    shutil.rmtree(second / "workspace" / "runs" / entries[1]["run_id"])
    again = _cli(
        "runs", "list", "--workspace", "workspace", "--index-url", pg_url, "--json", cwd=second
    )
    assert [e["run_id"] for e in json.loads(again.stdout)] == [run_a, entries[2]["run_id"]]
    # the password was never written: config snapshots keep the reference
    for project in (first, second):
        for path in (project / "workspace").rglob("*"):
            if path.is_file():
                assert password.encode() not in path.read_bytes(), path
    manifest = json.loads((first / "workspace" / "runs" / run_a / "manifest.json").read_text())
    assert manifest["config"]["index_url"] == url_ref


def test_unreachable_index_url_is_one_masked_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://ct:topsecret-pw-1@127.0.0.1:{port}/runs"
    result = _cli("runs", "list", "--index-url", url, cwd=tmp_path)
    line = _one_line(result)
    assert line.startswith(
        f"error: index_url postgresql://ct:***@127.0.0.1:{port}/runs: cannot connect"
    )
    assert "start the PostgreSQL server" in line and "topsecret" not in result.stderr
    # a pipeline with that index fails before anything is created
    project = _project(
        tmp_path / "p", "unreachable", f"postgresql://ct:${{{PASSWORD_VAR}}}@127.0.0.1:{port}/runs"
    )
    result = _cli("run", "pipeline.yaml", cwd=project, env={PASSWORD_VAR: "topsecret-pw-1"})
    line = _one_line(result)
    assert "pipeline.yaml: index_url postgresql://ct:***@" in line and "cannot connect" in line
    assert "topsecret" not in result.stderr
    assert not (project / "workspace").exists()


def test_wrong_password_and_missing_database(
    pg_url: str, pg_cluster: object, tmp_path: Path
) -> None:
    password = pg_cluster.password  # type: ignore[attr-defined]
    wrong = pg_url.replace(f":{password}@", ":not-the-password@")
    line = _one_line(_cli("runs", "list", "--index-url", wrong, cwd=tmp_path))
    assert "password authentication failed" in line and "check the user name and password" in line
    assert "not-the-password" not in line and "ct:***@" in line
    missing = pg_url.rsplit("/", 1)[0] + "/no_such_db"
    line = _one_line(_cli("runs", "list", "--index-url", missing, cwd=tmp_path))
    assert "no_such_db" in line and "create the database" in line and password not in line


def test_literal_password_in_the_pipeline_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "literal", "postgresql://ct:hunter22secret@127.0.0.1/db")
    result = _cli("run", "pipeline.yaml", cwd=project)
    line = _one_line(result)
    assert "index_url" in line and "${VAR}" in line
    assert not (project / "workspace").exists()


def test_not_a_postgres_url_and_missing_extra(tmp_path: Path) -> None:
    line = _one_line(
        _cli("runs", "list", "--index-url", "mysql://u:pw-secret-9@h/db", cwd=tmp_path)
    )
    assert "not a PostgreSQL URL" in line and "pw-secret-9" not in line
    blocked = (
        "import sys; sys.modules['sqlalchemy'] = None; "
        "from chatbot_tester.cli.main import main; main()"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            blocked,
            "runs",
            "list",
            "--index-url",
            "postgresql://u:pw-secret-9@127.0.0.1/db",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = _one_line(result)
    assert "pip install 'chatbot-tester[postgres]'" in line and "index_url" in line
    assert "pw-secret-9" not in line


def test_index_api_upserts_only_its_workspace(pg_url: str, tmp_path: Path) -> None:
    """Two workspaces refreshing into one table never touch each other's rows."""
    from chatbot_tester.common.artifacts.run_index import RunIndex, open_index, open_store
    from chatbot_tester.common.artifacts.workspace import Workspace
    from chatbot_tester.common.schemas import Manifest

    spaces = [Workspace(tmp_path / "a"), Workspace(tmp_path / "b")]
    ids: dict[str, list[str]] = {}
    for ws, pipeline in zip(spaces, ("pa", "pb"), strict=True):
        ids[pipeline] = []
        for _ in range(3):
            run = ws.create_run()
            run.write_manifest(Manifest(run_id=run.run_id, pipeline=pipeline, status="completed"))
            ids[pipeline].append(run.run_id)
        open_index(ws, pg_url).close()
    with RunIndex(None, open_store(pg_url, None)) as index:
        assert [e.run_id for e in index.entries()] == sorted(ids["pa"] + ids["pb"])
        assert [e.run_id for e in index.entries(workspace=spaces[1])] == ids["pb"]
    shutil.rmtree(spaces[0].runs_dir / ids["pa"][0])
    with open_index(spaces[0], pg_url) as index:
        assert [e.run_id for e in index.entries()] == sorted(ids["pa"][1:] + ids["pb"])
        index.record(ids["pb"][0], spaces[1])  # recording one run does not refresh the rest
        assert index.get(ids["pb"][0]) is not None


def test_s3_workspace_rows_are_keyed_by_url_and_recorded_stamps_match(
    pg_url: str, s3_server: str
) -> None:
    """A bucket's runs share one key on every machine; ``record`` stores the scan's stamp."""
    from chatbot_tester.common.artifacts.remote_workspace import open_workspace
    from chatbot_tester.common.artifacts.run_index import open_index
    from chatbot_tester.common.schemas import Manifest

    ws = open_workspace(
        "s3://evals/indexed", options={"client_kwargs": {"endpoint_url": s3_server}}
    )
    run = ws.create_run()
    run.write_manifest(Manifest(run_id=run.run_id, pipeline="remote", status="running"))
    sync = ws.start_sync(run)
    with open_index(ws, pg_url) as index:
        assert [(e.workspace, e.status) for e in index.entries()] == [
            ("s3://evals/indexed", "running")
        ]
        run.write_manifest(Manifest(run_id=run.run_id, pipeline="remote", status="completed"))
        sync.close()
        index.record(run.run_id)
        assert index.get(run.run_id).status == "completed"  # type: ignore[union-attr]
        assert index.store.stamps(ws.index_key) == ws.scan_runs()  # no re-read on refresh


def test_prune_on_a_shared_index_deletes_only_its_workspace(pg_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from chatbot_tester.cli.runs import command
    from chatbot_tester.common.artifacts.run_index import RunIndex, open_index, open_store
    from chatbot_tester.common.artifacts.workspace import Workspace
    from chatbot_tester.common.schemas import Manifest

    spaces = [Workspace(tmp_path / "a"), Workspace(tmp_path / "b")]
    for ws in spaces:
        for _ in range(2):
            run = ws.create_run()
            run.write_manifest(Manifest(run_id=run.run_id, pipeline="p", status="completed"))
        open_index(ws, pg_url).close()
    args = ["prune", "--keep", "0", "--workspace", str(spaces[0].root), "--index-url", pg_url]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    assert spaces[0].scan_runs() == {} and len(spaces[1].scan_runs()) == 2
    with RunIndex(None, open_store(pg_url, None)) as index:
        assert {e.workspace for e in index.entries()} == {spaces[1].index_key}
        assert len(index.entries()) == 2


def test_recording_into_an_unreachable_index_warns_and_never_fails_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from chatbot_tester.common.artifacts.workspace import Workspace
    from chatbot_tester.common.config import PipelineConfig
    from chatbot_tester.common.schemas import Manifest
    from chatbot_tester.orchestrator.run_record import record_run

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = PipelineConfig.model_validate(
        {
            "name": "p",
            "index_url": f"postgresql://ct@127.0.0.1:{port}/db",
            "generator": {"source": "x.csv"},
            "runner": {"backend": "demo"},
        }
    )
    ws = Workspace(tmp_path / "ws")
    run = ws.create_run()
    run.write_manifest(Manifest(run_id=run.run_id, pipeline="p", status="completed"))
    with caplog.at_level("WARNING"):
        record_run(config, ws, run.run_id)
    (record,) = caplog.records
    assert "cannot connect" in record.getMessage() and run.run_id in record.getMessage()
