"""``chatbot-tester evaluate`` prints the flaky samples of a run with repeats."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from eval_helpers import rec, write_jsonl

from chatbot_tester.cli.main import cli


def test_evaluate_summary_shows_flaky_samples(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "name: r\ngenerator: {source: d.jsonl}\nrunner: {backend: echo}\n"
        "evaluator: {metrics: [{type: exact_match}]}\n"
    )
    write_jsonl(tmp_path / "d.jsonl", [{"id": s, "input": "q", "expected": "x"} for s in "ab"])
    records = [
        rec("a", "x", repeat=0),
        rec("a", "y", repeat=1),  # a: flaky
        rec("b", "x", repeat=0),
        rec("b", "x", repeat=1),
    ]
    write_jsonl(tmp_path / "r.jsonl", records)
    args = [
        "evaluate",
        "--config",
        str(tmp_path / "p.yaml"),
        "--dataset",
        str(tmp_path / "d.jsonl"),
    ]
    args += ["--results", str(tmp_path / "r.jsonl"), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    # a passes 1 of 2 repeats (a share of 0.5, no tie rule), b 2 of 2
    assert "exact_match: mean 0.750, pass rate 75.0%, scored 4 of 4" in result.output
    assert "flaky 1 (50.0% of samples)" in result.output
