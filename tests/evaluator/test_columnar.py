"""``evaluator.report.columnar``: results.parquet and scores.parquet mirror the JSONL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from chatbot_tester import run_pipeline
from chatbot_tester.common.artifacts.columnar import read_records
from chatbot_tester.common.schemas import RunRecord, Score


def _pipeline(tmp_path: Path, n: int = 5) -> dict[str, Any]:
    data = tmp_path / "data.jsonl"
    rows = [{"id": f"s{i}", "input": f"say {i}", "expected": f"say {i}"} for i in range(n)]
    rows[1]["expected"] = "something else"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {
        "name": "columnar",
        "workspace": str(tmp_path / "ws"),
        "generator": {"source": str(data)},
        "runner": {"backend": "echo"},
        "evaluator": {
            "metrics": [{"type": "exact_match"}],
            "report": {"formats": ["json"], "columnar": True},
        },
    }


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _decoded(path: Path, nested: set[str]) -> list[dict[str, Any]]:
    rows = pq.read_table(path).to_pylist()
    return [
        {k: json.loads(v) if k in nested and v is not None else v for k, v in row.items()}
        for row in rows
    ]


def test_pipeline_writes_parquet_matching_the_jsonl_row_for_row(tmp_path: Path) -> None:
    result = run_pipeline(_pipeline(tmp_path))
    assert result.exit_code == 0, result.problems
    run = result.run_dir
    records = _jsonl(run / "results.jsonl")
    scores = _jsonl(run / "scores.jsonl")
    assert len(records) == 5 and len(scores) == 5
    assert [s["passed"] for s in scores].count(False) == 1  # s1's expected differs
    assert result.reports["results.parquet"] == run / "results.parquet"
    got_records = _decoded(
        run / "results.parquet", {"response", "turns", "conversation", "error", "usage"}
    )
    got_scores = _decoded(run / "scores.parquet", {"details"})
    assert got_records == records
    assert got_scores == scores
    # typed columns, not everything as text
    schema = pq.read_schema(run / "results.parquet")
    assert str(schema.field("latency_ms").type) == "double"
    assert str(schema.field("repeat").type) == "int64"
    assert str(pq.read_schema(run / "scores.parquet").field("passed").type) == "bool"
    # the reader gives back the same models from either file
    from_jsonl = list(read_records(run / "results.jsonl", RunRecord))
    assert list(read_records(run / "results.parquet", RunRecord)) == from_jsonl
    assert list(read_records(run / "scores.parquet", Score)) == list(
        read_records(run / "scores.jsonl", Score)
    )
    assert not list(run.glob(".*.tmp"))
    # the evaluator's de-duplicating readers take either file too
    from chatbot_tester.evaluator.records import iter_unique_records, iter_unique_scores

    assert list(iter_unique_records(run / "results.parquet")) == from_jsonl
    assert list(iter_unique_scores(run / "scores.parquet")) == list(
        iter_unique_scores(run / "scores.jsonl")
    )


def test_row_groups_bound_memory(tmp_path: Path, monkeypatch: Any) -> None:
    from chatbot_tester.common.artifacts import columnar

    monkeypatch.setattr(columnar, "ROW_GROUP", 2)
    result = run_pipeline(_pipeline(tmp_path, n=5))
    meta = pq.ParquetFile(result.run_dir / "results.parquet").metadata
    assert meta.num_rows == 5 and meta.num_row_groups == 3


def test_missing_pyarrow_is_one_line_exit_2_before_the_run(tmp_path: Path) -> None:
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
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(_pipeline(tmp_path)), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(block), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'chatbot-tester[parquet]'" in proc.stderr
    assert "evaluator.report.columnar" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ws").exists()  # stopped before any run folder


def test_evaluate_run_rewrites_the_parquet_files(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from chatbot_tester.cli import main as cli_main

    result = run_pipeline(_pipeline(tmp_path))
    run = result.run_dir
    (run / "results.parquet").unlink()
    (run / "scores.parquet").unlink()
    out = CliRunner().invoke(
        cli_main.cli, ["evaluate", str(run), "--workspace", str(tmp_path / "ws")]
    )
    assert out.exit_code == 0, out.output
    written = sorted(run.rglob("*.parquet"))
    assert {p.name for p in written} == {"results.parquet", "scores.parquet"}
    scores = next(p for p in written if p.name == "scores.parquet")
    assert list(read_records(scores, Score)) == list(
        read_records(scores.with_suffix(".jsonl"), Score)
    )


def test_run_files_read_either_format_across_row_groups(tmp_path: Path, monkeypatch: Any) -> None:
    """``run_files``: the JSONL when it is there, else its Parquet twin, row for row."""
    from chatbot_tester.common.artifacts import columnar, run_files
    from chatbot_tester.errors import UsageError

    monkeypatch.setattr(columnar, "ROW_GROUP", 2)
    config = _pipeline(tmp_path, n=5)
    config["runner"]["repeat"] = 2
    run = run_pipeline(config).run_dir
    jsonl, parquet = run / "results.jsonl", run / "results.parquet"
    assert pq.ParquetFile(parquet).metadata.num_row_groups == 5  # 10 rows
    want_rows = list(run_files.iter_rows(jsonl, RunRecord))
    want_models = list(run_files.iter_models(jsonl, RunRecord))
    assert columnar.scan(parquet) == (10, True)
    from chatbot_tester.evaluator.evaluate import _scan

    assert _scan(jsonl)[0] == 10
    jsonl.unlink()
    assert run_files.locate(jsonl) == parquet
    assert _scan(jsonl) == (10, True)  # row count and repeats from the Parquet file
    assert list(run_files.iter_models(jsonl, RunRecord)) == want_models
    got_rows = list(run_files.iter_rows(jsonl, RunRecord))
    assert [row for _, row in got_rows] == [row for _, row in want_rows]
    assert [n for n, _ in got_rows] == list(range(10))  # Parquet locators are row numbers
    for n, row in got_rows:  # each read back from its own row group
        assert run_files.row_at(jsonl, RunRecord, n) == row
    assert run_files.row_at(jsonl, RunRecord, 10) is None
    parquet.unlink()
    assert run_files.locate(jsonl) is None
    assert list(run_files.iter_models(jsonl, RunRecord)) == []
    try:
        run_files.require(jsonl, "results")
    except UsageError as exc:
        assert "no results (results.jsonl or results.parquet)" in str(exc)
    else:
        raise AssertionError("require did not raise")


def test_variant_group_comparison_reads_parquet_only_runs(tmp_path: Path) -> None:
    """compare_group (variants) over archived runs: the same verdicts and flipped answers."""
    import shutil

    from chatbot_tester.evaluator.compare_group import VariantSide, compare_group

    base = run_pipeline(_pipeline(tmp_path)).run_dir
    config = _pipeline(tmp_path)
    config["runner"]["options"] = {"prefix": "nope: "}
    cand = run_pipeline(config).run_dir
    arch_base, arch_cand = tmp_path / "arch" / base.name, tmp_path / "arch" / cand.name
    for src, dst in ((base, arch_base), (cand, arch_cand)):
        shutil.copytree(src, dst)
        (dst / "results.jsonl").unlink()
        (dst / "scores.jsonl").unlink()

    def group(b: Path, c: Path) -> dict[str, Any]:
        out = compare_group(
            "g",
            VariantSide(name="a", run_id=b.name, run_dir=str(b)),
            [VariantSide(name="b", run_id=c.name, run_dir=str(c))],
        ).model_dump(mode="json")
        return json.loads(json.dumps(out).replace(str(b.parent), "RUNS"))

    want, got = group(base, cand), group(arch_base, arch_cand)
    assert got == want
    flipped = got["flipped"]["b"]
    assert len(flipped) == 4  # every sample but s1 (whose expected differs) fails now
    assert all(f["variant_answer"].startswith("nope: say") for f in flipped)
    assert all(f["baseline_answer"].startswith("say") for f in flipped)
