"""A run archived in the bucket as Parquet only (no results parts, no scores.jsonl) is usable.

Object stores are where big runs are archived: the quickstart runs on s3:// (a loopback
moto server) with ``evaluator.report.columnar``, then the bucket loses the JSONL results
parts and scores.jsonl. From a fresh machine (an empty cache), export, compare and
evaluate read the Parquet files, with the same answers as the JSONL-backed run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_s3_workspace import STORAGE, _cli, _project, _s3

pytestmark = pytest.mark.e2e

WS = ["--workspace", "s3://evals/arch"]


def test_parquet_only_run_in_the_bucket_exports_compares_and_evaluates(
    s3_server: str, tmp_path: Path
) -> None:
    extra = STORAGE
    project = _project(tmp_path, "s3://evals/arch", extra)
    text = (project / "pipeline.yaml").read_text().replace("latency_ms: 40", "latency_ms: 0")
    text = text.replace(
        "formats: [html, json, junit, md]", "formats: [html, json, junit, md]\n    columnar: true"
    )
    (project / "pipeline.yaml").write_text(text)
    first = _cli("run", "pipeline.yaml", "-q", cwd=project)
    assert first.returncode == 0, first.stderr
    fs = _s3()
    (run_id,) = [p.rsplit("/", 1)[-1] for p in fs.ls("evals/arch/runs")]  # type: ignore[attr-defined]
    prefix = f"evals/arch/runs/{run_id}"
    before = _cli("export", run_id, *WS, "-o", "before.csv", cwd=project)
    assert before.returncode == 0, before.stderr
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(prefix)]  # type: ignore[attr-defined]
    assert {"results.parquet", "scores.parquet"} <= set(names)
    for name in names:
        if name.startswith("results.part-") or name == "scores.jsonl":
            fs.rm(f"{prefix}/{name}")  # type: ignore[attr-defined]
    os.environ["CHATBOT_TESTER_CACHE_DIR"] = str(tmp_path / "other-machine")
    after = _cli("export", run_id, *WS, "-o", "after.csv", cwd=project)
    assert after.returncode == 0, after.stderr
    assert (project / "after.csv").read_bytes() == (project / "before.csv").read_bytes()
    cmp = _cli("compare", run_id, run_id, *WS, "--format", "json", "--no-write", cwd=project)
    assert cmp.returncode == 0, cmp.stderr
    assert all(m["n_paired"] > 0 for m in json.loads(cmp.stdout)["metrics"])
    ev = _cli("evaluate", run_id, *WS, cwd=project)
    assert ev.returncode == 0, ev.stderr
    assert "43 cached" in ev.stderr  # the scores came back from scores.parquet
    fs.invalidate_cache()  # type: ignore[attr-defined]
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(prefix)]  # type: ignore[attr-defined]
    assert "scores.jsonl" in names and not any(n.startswith("results.part-") for n in names)
