"""The evaluator's joined rows: one per record and per sample without one, reused scores included.

Also pins the report model: report.json reads back into ``EvalReport`` unchanged, and a
report.json written before ``decision`` existed still loads.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
from eval_helpers import CALLS, rec, write_jsonl

from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.evaluator import EvalReport, Evaluation, Row, evaluate_run
from chatbot_tester.evaluator.metrics import MetricContext
from chatbot_tester.evaluator.reports.json_report import render_json

SAMPLES = [
    {"id": "a", "input": "q", "expected": "x", "tags": ["t"]},
    {"id": "b", "input": "q", "expected": "y"},
    {"id": "c", "input": "q", "expected": "z"},
]
CONFIG = {
    "metrics": [{"type": "h8_count", "name": "rows_count"}, {"type": "exact_match"}],
    "thresholds": ["exact_match.pass_rate >= 0.5"],
}


def _evaluate(tmp: Path, rows: list[Row], *, resume: bool) -> Evaluation:
    async def main() -> Evaluation:
        return await evaluate_run(
            tmp / "dataset.jsonl",
            tmp / "results.jsonl",
            EvaluatorConfig.model_validate(CONFIG),
            tmp / "out",
            context=MetricContext(),
            resume=resume,
            pipeline_name="p",
            run_id="r",
            on_row=rows.append,
        )

    return anyio.run(main)


def test_one_row_per_record_and_missing_sample_with_every_score(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "dataset.jsonl", SAMPLES)
    write_jsonl(
        tmp_path / "results.jsonl",
        [rec("b", "y"), rec("a", "wrong"), rec("a", "dup"), rec("zz", "orphan")],
    )
    rows: list[Row] = []
    first = _evaluate(tmp_path, rows, resume=False)
    by_id = {r.sample.id: r for r in rows}
    assert sorted(r.sample.id for r in rows) == ["a", "b", "c"]  # once each, no orphan
    assert by_id["a"].record is not None and by_id["a"].record.response is not None
    assert by_id["a"].record.response.text == "wrong"  # first record wins
    assert by_id["c"].record is None and by_id["c"].scores == []
    assert [s.metric for s in by_id["a"].scores] == ["rows_count", "exact_match"]
    assert [s.passed for s in by_id["b"].scores] == [True, True]
    assert [r.position for r in sorted(rows, key=lambda r: r.position)] == [1, 2, 3]
    assert first.report.metrics["exact_match"].passed == 1
    assert first.report.tags["t"]["exact_match"].failed == 1
    calls = CALLS["rows_count"]

    # resumed: nothing is scored again, and the rows carry the reused scores
    rows2: list[Row] = []
    second = _evaluate(tmp_path, rows2, resume=True)
    assert CALLS["rows_count"] == calls and second.scored_now == 0 and second.skipped == 4
    again = {r.sample.id: [(s.metric, s.passed) for s in r.scores] for r in rows2}
    assert again == {k: [(s.metric, s.passed) for s in r.scores] for k, r in by_id.items()}
    assert second.report.metrics == first.report.metrics


def test_report_json_round_trips_and_old_reports_load(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "dataset.jsonl", SAMPLES)
    write_jsonl(tmp_path / "results.jsonl", [rec("a", "x"), rec("b", "nope")])
    ev = _evaluate(tmp_path, [], resume=False)
    data = orjson.loads(render_json(ev.report))
    assert data["schema_version"] == ev.report.schema_version
    assert data["passed"] is True and data["decision"]["passed"] is True
    assert data["decision"]["problems"] == [] and data["decision"]["failed_gates"] == []
    assert "ci_low" in data["metrics"]["exact_match"]
    assert "ci_low" not in data["tags"]["t"]["exact_match"]  # per-tag blocks have no intervals
    assert "flaky" not in data["metrics"]["exact_match"]  # no repeats: no repeat keys
    back = EvalReport.model_validate(data)
    assert back.to_json_dict() == data
    old = {k: v for k, v in data.items() if k != "decision"}
    old["passed"] = False
    old["gates"] = [{**data["gates"][0], "passed": False}]
    loaded = EvalReport.model_validate(old)
    assert loaded.decision.passed is False
    assert [g.expr for g in loaded.decision.failed_gates] == ["exact_match.pass_rate >= 0.5"]
