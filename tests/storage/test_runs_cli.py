"""``runs list|show|tag|prune|latest`` and ``evaluator.baseline: <tag>`` on a local workspace."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from chatbot_tester.cli.runs import command
from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.common.schemas import Manifest


def _make_runs(ws: Workspace, n: int, pipeline: str = "p") -> list[str]:
    ids = []
    for i in range(n):
        run = ws.create_run()
        run.write_manifest(
            Manifest(
                run_id=run.run_id, pipeline=pipeline, status="completed", counts={"records": i}
            )
        )
        (run.path / "report.json").write_text(
            json.dumps({"passed": True, "metrics": {"m": {"mean": i / 10}}})
        )
        ids.append(run.run_id)
    return ids


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(command, list(args))
    return result.exit_code, result.output


def test_list_show_tag_latest(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ids = _make_runs(ws, 3)
    code, out = _cli("list", "--workspace", str(ws.root), "--json")
    assert code == 0 and [e["run_id"] for e in json.loads(out)] == ids
    assert _cli("tag", ids[0], "prod", "--workspace", str(ws.root))[0] == 0
    code, out = _cli("list", "--workspace", str(ws.root), "--tag", "prod", "--json")
    assert [e["run_id"] for e in json.loads(out)] == [ids[0]]
    code, out = _cli("show", "prod", "--workspace", str(ws.root))
    assert json.loads(out)["run_id"] == ids[0] and json.loads(out)["metrics"]["m"]["mean"] == 0.0
    assert _cli("latest", "--workspace", str(ws.root))[1].strip() == ids[-1]
    # the index is rebuilt when deleted; tags live in the run directories
    (ws.root / "index.sqlite").unlink()
    code, out = _cli("list", "--workspace", str(ws.root), "--tag", "prod", "--json")
    assert [e["run_id"] for e in json.loads(out)] == [ids[0]]


def test_prune_keeps_baselines_of_kept_runs(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ids = _make_runs(ws, 5)
    # the newest run was compared with the oldest one
    (ws.runs_dir / ids[-1] / "compare.json").write_text(
        json.dumps({"baseline": {"run_id": ids[0]}})
    )
    code, out = _cli("prune", "--keep", "1", "--workspace", str(ws.root))
    assert code == 0, out
    left = sorted(p.name for p in ws.runs_dir.iterdir())
    assert left == [ids[0], ids[-1]]


def test_baseline_by_tag(tmp_path: Path) -> None:
    from chatbot_tester.common.config import PipelineConfig
    from chatbot_tester.orchestrator.stages import resolve_baseline

    ws = Workspace(tmp_path / "ws")
    ids = _make_runs(ws, 3)
    _cli("tag", ids[0], "release", "--workspace", str(ws.root))
    current = ws.create_run()
    raw = {"name": "p", "generator": {"source": "x.csv"}, "runner": {"backend": "demo"}}
    for ref, expected in (("release", ids[0]), ("latest:release", ids[0]), ("latest", ids[-1])):
        config = PipelineConfig.model_validate({**raw, "evaluator": {"baseline": ref}})
        found = resolve_baseline(config, ws, current)
        assert found is not None and found.run_id == expected
