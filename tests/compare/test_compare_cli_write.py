"""compare writes compare.md/html/json into the candidate run by default; a bad step summary only warns."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from compare_helpers import binary_scores

from chatbot_tester.cli.main import cli
from chatbot_tester.evaluator.compare import compare_runs, write_comparison

IDS = [f"s{i:02d}" for i in range(40)]
FILES = ("compare.md", "compare.html", "compare.json")


@pytest.fixture
def pair(make_run) -> tuple[Path, Path]:
    base = make_run("20250101-000000-aaaa", binary_scores("m", {s: True for s in IDS}))
    cand = make_run(
        "20250102-000000-bbbb", binary_scores("m", {s: i >= 12 for i, s in enumerate(IDS)})
    )
    return base, cand


def test_compare_writes_the_three_files_into_the_candidate_run(pair, tmp_path: Path) -> None:
    base, cand = pair
    ws = tmp_path / "workspace"
    result = CliRunner().invoke(
        cli, ["compare", "20250101-000000-aaaa", "latest", "--workspace", str(ws)]
    )
    assert result.exit_code == 1, result.output
    for name in FILES:
        assert (cand / name).is_file(), name
        assert f"wrote {cand / name}" in result.output
        assert not (base / name).exists()
    assert json.loads((cand / "compare.json").read_text())["metrics"][0]["verdict"] == "regression"


def test_no_write_leaves_the_run_untouched(pair) -> None:
    base, cand = pair
    result = CliRunner().invoke(cli, ["compare", str(base), str(cand), "--no-write"])
    assert result.exit_code == 1
    assert not any((cand / name).exists() for name in FILES)
    assert "wrote" not in result.output


def test_unwritable_step_summary_warns_and_keeps_the_exit_code(
    pair, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, cand = pair
    bad = str(tmp_path / "missing-dir" / "summary.md")
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(
            cli, ["compare", str(base), str(cand)], env={"GITHUB_STEP_SUMMARY": bad}
        )
    assert result.exit_code == 1, result.output  # the regression, not a crash
    assert any("GITHUB_STEP_SUMMARY" in r.getMessage() for r in caplog.records)
    caplog.clear()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", bad)
    with caplog.at_level(logging.WARNING):
        paths = write_comparison(compare_runs(base, cand), tmp_path / "out")
    assert sorted(paths) == ["compare_html", "compare_json", "compare_md"]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
