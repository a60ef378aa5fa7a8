"""Compare: samples that errored or were not scored count as fails; no shared samples is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from compare_helpers import binary_scores

from chatbot_tester.cli.main import cli
from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.compare import compare_runs
from chatbot_tester.evaluator.reports.compare_html import render_html
from chatbot_tester.evaluator.reports.compare_md import render_markdown

IDS = [f"s{i:02d}" for i in range(40)]


def _crashing_candidate() -> list[Score]:
    """Even samples pass; odd ones got no answer (the bot raised)."""
    return [
        Score(sample_id=sid, metric="exact_match", value=1.0, passed=True)
        if i % 2 == 0
        else Score(sample_id=sid, metric="exact_match", error="no answer: server_error")
        for i, sid in enumerate(IDS)
    ]


def test_candidate_crashing_on_half_the_samples_is_a_regression(make_run) -> None:
    base = make_run("b", binary_scores("exact_match", {s: True for s in IDS}))
    cand = make_run("c", _crashing_candidate())
    comp = compare_runs(base, cand)
    (m,) = comp.metrics
    odd = IDS[1::2]
    assert m.n_pass_paired == 40 and m.candidate_errors == 20 and m.baseline_errors == 0
    assert (m.baseline_pass_rate, m.candidate_pass_rate) == (1.0, 0.5)
    assert m.regressions == odd and m.error_regressions == odd
    assert m.verdict == "regression" and m.significant and comp.exit_code == 1
    md = render_markdown(comp)
    assert "`s01` (error)" in md and "**Regression**" in md
    assert "s01 (error)" in render_html(comp)


def test_a_sample_the_metric_did_not_score_counts_as_fail(make_run) -> None:
    base = [
        *binary_scores("m", {s: True for s in IDS}),
        *binary_scores("other", {s: True for s in IDS}),
    ]
    # the candidate scored "other" on every sample but "m" only on the first 20
    cand = [
        *binary_scores("m", {s: True for s in IDS[:20]}),
        *binary_scores("other", {s: True for s in IDS}),
    ]
    comp = compare_runs(make_run("b", base), make_run("c", cand))
    m = next(x for x in comp.metrics if x.metric == "m")
    assert m.n_pass_paired == 40 and m.candidate_errors == 20
    assert m.error_regressions == IDS[20:] and m.verdict == "regression"


def test_errors_in_the_baseline_fixed_in_the_candidate_are_an_improvement(make_run) -> None:
    comp = compare_runs(
        make_run("b", _crashing_candidate()),
        make_run("c", binary_scores("exact_match", {s: True for s in IDS})),
    )
    (m,) = comp.metrics
    assert m.verdict == "improvement" and m.fail_to_pass == 20 and m.error_regressions == []
    assert comp.exit_code == 0


def test_same_errors_on_both_sides_are_no_change(make_run) -> None:
    comp = compare_runs(make_run("b", _crashing_candidate()), make_run("c", _crashing_candidate()))
    (m,) = comp.metrics
    assert m.verdict == "no_change" and m.pass_to_fail == m.fail_to_pass == 0
    assert m.baseline_pass_rate == m.candidate_pass_rate == 0.5


def test_graded_metric_errors_do_not_invent_pass_rates(make_run) -> None:
    base = [Score(sample_id=s, metric="sim", value=0.8) for s in IDS]
    cand = [Score(sample_id=s, metric="sim", value=0.8) for s in IDS[:30]] + [
        Score(sample_id=s, metric="sim", error="judge: bad reply") for s in IDS[30:]
    ]
    (m,) = compare_runs(make_run("b", base), make_run("c", cand)).metrics
    assert m.n_pass_paired == 0 and m.baseline_pass_rate is None
    # the 10 errored samples count as the worst value (0) against the candidate
    assert m.n_paired == 40 and m.missing_in_candidate == 10
    assert m.candidate_mean == pytest.approx(0.8 * 30 / 40)
    assert m.verdict == "regression"


def test_runs_without_shared_samples_cannot_be_compared(make_run) -> None:
    a = make_run("run-a", binary_scores("m", {"a1": True, "a2": True}))
    b = make_run("run-b", binary_scores("m", {"b1": True}))
    with pytest.raises(
        ConfigError, match="runs run-a and run-b share no sample ids; nothing to compare"
    ):
        compare_runs(a, b)


def test_cli_exit_codes_for_crashes_and_unrelated_runs(make_run, tmp_path: Path) -> None:
    base = make_run("b", binary_scores("exact_match", {s: True for s in IDS}))
    crash = make_run("c", _crashing_candidate())
    other = make_run("o", binary_scores("exact_match", {"zz": True}))
    for cand, code, needle in ((crash, 1, "(error)"), (other, 2, "share no sample ids")):
        proc = subprocess.run(
            [sys.executable, "-m", "chatbot_tester", "compare", str(base), str(cand), "--no-write"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert proc.returncode == code, proc.stderr
        assert needle in proc.stdout + proc.stderr


def test_cli_prints_markup_and_escapes_in_sample_ids_literally(make_run) -> None:
    evil = ["[bold red]x[/]", "[/oops]", "e\x1b[2J\x1b]0;TITLE\x07\nerror: fake"]
    ids = [*evil, *IDS]
    base = make_run("b", binary_scores("m[/x]", {s: True for s in ids}))
    cand = make_run("c", binary_scores("m[/x]", {s: False for s in ids}))
    result = CliRunner().invoke(cli, ["compare", str(base), str(cand)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    out = result.output
    assert "[bold red]x[/]" in out and "[/oops]" in out and "m[/x]" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "\nerror: fake" not in out and "eerror: fake" not in out.replace(" ", "")
    md = (cand / "compare.md").read_text()
    assert "\x1b" not in md and "\x07" not in md and "TITLE" not in md
