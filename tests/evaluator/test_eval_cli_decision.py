"""``chatbot-tester evaluate`` decides as ``run`` does: gates, errors, unscored, baseline."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from eval_helpers import rec, write_jsonl

from chatbot_tester.cli.main import cli

PIPELINE = """\
name: decide
workspace: ./ws
generator: {source: d.jsonl}
runner: {backend: echo, max_error_rate: RATE}
evaluator:
  metrics: [{type: exact_match}]
BASELINE"""


def _project(tmp: Path, rate: float = 0.0, baseline: str = "") -> Path:
    (tmp / "p.yaml").write_text(PIPELINE.replace("RATE", str(rate)).replace("BASELINE", baseline))
    write_jsonl(tmp / "d.jsonl", [{"id": s, "input": "q", "expected": "x"} for s in "abcd"])
    write_jsonl(tmp / "r.jsonl", [rec("a", "x"), rec("b", "x"), rec("c", "x"), rec("d", None)])
    return tmp


def _hand_chained(tmp: Path) -> list[str]:
    args = ["evaluate", "--config", str(tmp / "p.yaml"), "--dataset", str(tmp / "d.jsonl")]
    return [*args, "--results", str(tmp / "r.jsonl"), "-o", str(tmp / "out")]


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def test_errors_beyond_tolerance_fail_with_the_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, _hand_chained(_project(tmp_path)))
    assert result.exit_code == 1, result.output
    assert "1 of 4 samples ended in errors (runner.max_error_rate is 0)" in result.output
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    assert report["passed"] is False
    assert report["decision"]["problems"] == [
        "1 of 4 samples ended in errors (runner.max_error_rate is 0)"
    ]
    assert "FAIL" in (tmp_path / "out" / "report.md").read_text().splitlines()[0].upper()


def test_errors_within_tolerance_pass(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, _hand_chained(_project(tmp_path, rate=0.5)))
    assert result.exit_code == 0, result.output
    assert "ended in errors" not in result.output
    assert orjson.loads((tmp_path / "out" / "report.json").read_bytes())["passed"] is True


def test_rescoring_a_run_compares_with_its_baseline(tmp_path: Path) -> None:
    project = _project(tmp_path, rate=0.5, baseline="  baseline: latest\n")
    runs = project / "ws" / "runs"
    for run_id in ("20261124T000000000Z-aaaaaa", "20261125T000000000Z-bbbbbb"):
        run = runs / run_id
        run.mkdir(parents=True)
        (run / "pipeline.yaml").write_text((project / "p.yaml").read_text())
        (run / "dataset.jsonl").write_bytes((project / "d.jsonl").read_bytes())
        (run / "results.jsonl").write_bytes((project / "r.jsonl").read_bytes())
        manifest = {"run_id": run_id, "pipeline": "decide", "status": "completed"}
        (run / "manifest.json").write_bytes(orjson.dumps(manifest))
    first = CliRunner().invoke(cli, ["evaluate", str(runs / "20261124T000000000Z-aaaaaa")])
    assert first.exit_code == 0, first.output
    assert "no earlier run to compare with" in first.output
    second = CliRunner().invoke(cli, ["evaluate", str(runs / "20261125T000000000Z-bbbbbb")])
    assert second.exit_code == 0, second.output
    compare = orjson.loads((runs / "20261125T000000000Z-bbbbbb" / "compare.json").read_bytes())
    assert compare["baseline"]["run_id"] == "20261124T000000000Z-aaaaaa"
    assert not (runs / "20261124T000000000Z-aaaaaa" / "compare.json").exists()
