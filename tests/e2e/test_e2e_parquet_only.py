"""A run archived as Parquet only (no results.jsonl / scores.jsonl) reads like its JSONL twin.

The quickstart runs once with ``evaluator.report.columnar: true``; its run directory is copied
aside (the JSONL twin), then the JSONL files of the run in the workspace are deleted. Every
reader of a finished run must give the same answers from the Parquet files: evaluate (scores
reused, and re-scored with --no-resume), compare, export, runs show, --filter-failing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_helpers import CliResult

pytestmark = pytest.mark.e2e

Cli = Callable[..., CliResult]


def _archive(quickstart: Path, cli: Cli) -> tuple[Path, Path, str]:
    """(archived run directory, its JSONL twin, run id)."""
    text = (quickstart / "pipeline.yaml").read_text(encoding="utf-8")
    text = text.replace("latency_ms: 40", "latency_ms: 0")
    text = text.replace(
        "formats: [html, json, junit, md]", "formats: [html, json, junit, md]\n    columnar: true"
    )
    (quickstart / "pipeline.yaml").write_text(text, encoding="utf-8")
    done = cli("run", "pipeline.yaml", "-q", cwd=quickstart)
    assert done.code == 0, done.stderr
    (run,) = (quickstart / "workspace" / "runs").iterdir()
    twin = quickstart.parent / "twin" / run.name
    shutil.copytree(run, twin)
    for name in ("results.jsonl", "scores.jsonl"):
        (run / name).unlink()
    assert {"results.parquet", "scores.parquet"} <= {p.name for p in run.iterdir()}
    return run, twin, run.name


def _replace(path: Path, text: str) -> None:
    """Write ``path`` by rename, as the tool does (the run index notices the change)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _report(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("generated_at")
    return data


def test_parquet_only_run_evaluates_compares_exports_and_shows_like_its_twin(
    quickstart: Path, cli: Cli
) -> None:
    run, twin, run_id = _archive(quickstart, cli)
    ws = ["--workspace", str(quickstart / "workspace")]

    # export: the same table, byte for byte
    for fmt in ("csv", "parquet"):
        got = cli("export", run_id, "--format", fmt, "-o", f"a.{fmt}", *ws, cwd=quickstart)
        want = cli("export", str(twin), "--format", fmt, "-o", f"b.{fmt}", *ws, cwd=quickstart)
        assert got.code == want.code == 0, got.stderr + want.stderr
    assert (quickstart / "a.csv").read_bytes() == (quickstart / "b.csv").read_bytes()
    import pyarrow.parquet as pq

    assert pq.read_table(quickstart / "a.parquet").equals(pq.read_table(quickstart / "b.parquet"))

    # compare, both ways: nothing changed, every sample shared
    for base, cand in ((str(twin), run_id), (run_id, str(twin))):
        out = cli("compare", base, cand, *ws, "--format", "json", "--no-write", cwd=quickstart)
        assert out.code == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["missing_in_candidate"] == 0 and not data["only_in_candidate"]
        assert len(data["metrics"]) == 5
        for m in data["metrics"]:
            assert m["verdict"] == "no_change" and m["delta"] == 0.0, m
            assert m["n_paired"] == (7 if m["metric"] == "handoff_when_out_of_scope" else 43), m

    # runs show: what the index knows does not depend on the files' format
    shown = cli("runs", "show", run_id, *ws, cwd=quickstart)
    assert shown.code == 0, shown.stderr
    entry = json.loads(shown.stdout)
    assert entry["records"] == 43 and entry["evaluated"] is True and entry["passed"] is True

    # evaluate in place: scores come back from scores.parquet (nothing re-scored)
    evaluated = cli("evaluate", run_id, *ws, cwd=quickstart)
    assert evaluated.code == 0, evaluated.stderr
    assert "43 cached" in evaluated.stderr
    assert _lines(run / "scores.jsonl") == _lines(twin / "scores.jsonl")
    assert _report(run / "report.json") == _report(twin / "report.json")
    assert (run / "report.md").read_bytes() == (twin / "report.md").read_bytes()
    assert not (run / "results.jsonl").exists()  # the archive stays an archive

    # evaluate --no-resume: re-scored from results.parquet, the same scores and report
    rescored = cli("evaluate", run_id, "--no-resume", *ws, cwd=quickstart)
    assert rescored.code == 0, rescored.stderr
    out_dir = Path(rescored.stdout.strip().splitlines()[-1])
    assert out_dir.parent.name == "evaluations"
    assert sorted(_lines(out_dir / "scores.jsonl")) == sorted(_lines(twin / "scores.jsonl"))
    assert _report(out_dir / "report.json") == _report(twin / "report.json")
    junit = (out_dir / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase") == (twin / "junit.xml").read_text("utf-8").count("<testcase")

    # --filter-failing reads the archived run's scores
    (run / "scores.jsonl").unlink()
    again = cli("run", "pipeline.yaml", "-q", "--filter-failing", run_id, cwd=quickstart)
    assert again.code in (0, 1), again.stderr
    failing = {
        json.loads(line)["sample_id"]
        for line in _lines(twin / "scores.jsonl")
        if json.loads(line)["passed"] is False
    }
    newest = max((quickstart / "workspace" / "runs").iterdir())
    assert {json.loads(x)["id"] for x in _lines(newest / "dataset.jsonl")} == failing


def test_no_results_at_all_or_no_pyarrow_is_one_line_exit_2(
    quickstart: Path, cli: Cli, tmp_path: Path
) -> None:
    run, _twin, run_id = _archive(quickstart, cli)
    ws = ["--workspace", str(quickstart / "workspace")]
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pyarrow' or name.startswith('pyarrow.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, _Block())\n",
        encoding="utf-8",
    )
    env = {"PYTHONPATH": os.pathsep.join([str(block), *sys.path])}
    for args in (["evaluate", run_id], ["export", run_id], ["compare", run_id, run_id]):
        out = cli(*args, *ws, cwd=quickstart, env=env)
        assert out.code == 2, (args, out.stderr)
        assert "pip install 'chatbot-tester[parquet]'" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1

    (run / "results.parquet").unlink()
    for args in (["evaluate", run_id], ["export", run_id]):
        out = cli(*args, *ws, cwd=quickstart)
        assert out.code == 2, (args, out.stderr)
        assert "results.jsonl or results.parquet" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    (run / "scores.parquet").unlink()
    out = cli("compare", run_id, run_id, *ws, cwd=quickstart)
    assert out.code == 2 and "scores.parquet" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_runs_compact_archives_a_run_that_stays_readable_and_resumable(
    quickstart: Path, cli: Cli
) -> None:
    text = (quickstart / "pipeline.yaml").read_text(encoding="utf-8")
    (quickstart / "pipeline.yaml").write_text(text.replace("latency_ms: 40", "latency_ms: 0"))
    assert cli("run", "pipeline.yaml", "-q", cwd=quickstart).code == 0
    (run,) = (quickstart / "workspace" / "runs").iterdir()
    results, scores = _lines(run / "results.jsonl"), _lines(run / "scores.jsonl")
    assert cli("export", "latest", "-o", "before.csv", cwd=quickstart).code == 0

    manifest = run / "manifest.json"
    original = manifest.read_text(encoding="utf-8")
    _replace(manifest, json.dumps({**json.loads(original), "status": "running"}))
    refused = cli("runs", "compact", run.name, cwd=quickstart)
    assert refused.code == 2 and "is running" in refused.stderr, refused.stderr
    assert (run / "results.jsonl").is_file()
    _replace(manifest, original)

    done = cli("runs", "compact", "latest", cwd=quickstart)
    assert done.code == 0, done.stderr
    assert "results.parquet 43 rows" in done.stdout and f"scores.parquet {len(scores)} rows" in (
        done.stdout
    )
    assert not (run / "results.jsonl").exists() and not (run / "scores.jsonl").exists()
    assert cli("export", "latest", "-o", "after.csv", cwd=quickstart).code == 0
    assert (quickstart / "after.csv").read_bytes() == (quickstart / "before.csv").read_bytes()

    # --resume goes on from the archived records and scores: nothing is sent or scored again
    resumed = cli("run", "pipeline.yaml", "--resume", run.name, cwd=quickstart)
    assert resumed.code == 0, resumed.stderr
    assert "run: started, 0 items" in resumed.stderr
    assert "43/43 done, 0 errors, 43 cached" in resumed.stderr  # every score reused
    assert _lines(run / "results.jsonl") == results
    assert sorted(_lines(run / "scores.jsonl")) == sorted(scores)
