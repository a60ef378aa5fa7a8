"""compare_runs: planted regressions are significant, re-run noise is not."""

from __future__ import annotations

from pathlib import Path

import pytest
from compare_helpers import binary_scores, report

from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.compare import compare_runs

IDS = [f"s{i:02d}" for i in range(40)]


def test_planted_regression_is_significant(make_run) -> None:
    base = {sid: True for sid in IDS}
    cand = {sid: i >= 12 for i, sid in enumerate(IDS)}  # 12 of 40 passing samples now fail
    b = make_run("base", binary_scores("exact_match", base), report(100, 200))
    c = make_run("cand", binary_scores("exact_match", cand), report(110, 260))
    comp = compare_runs(b, c)
    [m] = comp.metrics
    assert m.n_paired == 40 and m.n_pass_paired == 40
    assert (m.pass_to_fail, m.fail_to_pass) == (12, 0)
    assert m.p_value == pytest.approx(2 * 0.5**12)
    assert m.verdict == "regression" and m.significant
    assert m.regressions == IDS[:12] and m.improvements == []
    assert m.delta == pytest.approx(-0.3)
    assert m.pass_rate_delta == pytest.approx(-0.3)
    assert comp.has_regression and comp.exit_code == 1
    ops = {s.name: s for s in comp.operational}
    assert ops["latency.p95"].delta == pytest.approx(60)
    assert ops["latency.p50"].baseline == 100 and ops["latency.p50"].candidate == 110
    assert "ttft.p95" not in ops  # null on both sides


def test_rerun_noise_is_not_a_regression(make_run) -> None:
    base = {sid: i % 4 != 0 for i, sid in enumerate(IDS)}  # 30 of 40 pass
    cand = dict(base)
    cand["s01"] = cand["s02"] = False  # two pass->fail
    cand["s00"] = True  # one fail->pass
    graded_b = [
        Score(sample_id=s, metric="similarity", value=0.7 + (i % 5) / 20) for i, s in enumerate(IDS)
    ]
    graded_c = [
        Score(
            sample_id=s, metric="similarity", value=0.7 + (i % 5) / 20 + (0.01 if i % 2 else -0.01)
        )
        for i, s in enumerate(IDS)
    ]
    b = make_run("base", binary_scores("exact_match", base) + graded_b, report(100, 200))
    c = make_run("cand", binary_scores("exact_match", cand) + graded_c, report(101, 199))
    comp = compare_runs(b, c)
    by = {m.metric: m for m in comp.metrics}
    em = by["exact_match"]
    assert (em.pass_to_fail, em.fail_to_pass) == (2, 1)
    assert em.p_value == pytest.approx(1.0)
    assert em.verdict == "no_change" and not em.significant
    assert em.regressions == ["s01", "s02"] and em.improvements == ["s00"]
    sim = by["similarity"]
    assert sim.test == "paired_bootstrap" and sim.n_pass_paired == 0
    assert sim.p_adjusted is not None and sim.p_adjusted >= 0.05
    assert sim.delta_ci_low < 0 < sim.delta_ci_high
    assert sim.verdict == "no_change"
    assert comp.exit_code == 0


def test_two_flips_one_way_is_still_noise(make_run) -> None:
    # a percentile bootstrap over 0/1 values would call 4 one-way flips "significant";
    # the exact test (p = 0.125) correctly does not
    base = {sid: True for sid in IDS}
    cand = {sid: i >= 4 for i, sid in enumerate(IDS)}
    comp = compare_runs(
        make_run("b", binary_scores("m", base)), make_run("c", binary_scores("m", cand))
    )
    [m] = comp.metrics
    assert m.p_value == pytest.approx(0.125)
    assert m.verdict == "no_change" and comp.exit_code == 0


def test_graded_metric_shift_is_caught_by_the_ci(make_run) -> None:
    base = [Score(sample_id=s, metric="judge", value=0.8 + (i % 3) / 20) for i, s in enumerate(IDS)]
    cand = [
        Score(sample_id=s, metric="judge", value=0.7 + (i % 3) / 20 + (i % 2) / 100)
        for i, s in enumerate(IDS)
    ]
    comp = compare_runs(make_run("b", base), make_run("c", cand))
    [m] = comp.metrics
    assert m.delta_ci_high < 0 and m.verdict == "regression" and comp.exit_code == 1


def test_improvement_exits_zero(make_run) -> None:
    base = {sid: i >= 15 for i, sid in enumerate(IDS)}
    cand = {sid: True for sid in IDS}
    comp = compare_runs(
        make_run("b", binary_scores("m", base)), make_run("c", binary_scores("m", cand))
    )
    [m] = comp.metrics
    assert m.verdict == "improvement" and m.fail_to_pass == 15 and comp.exit_code == 0


def test_repeats_turns_duplicates_errors_and_unpaired(make_run) -> None:
    base = [
        # s1: two repeats, one pass one fail -> mean 0.5, pass (at least half)
        Score(sample_id="s1", repeat=0, metric="m", value=1.0, passed=True),
        Score(sample_id="s1", repeat=1, metric="m", value=0.0, passed=False),
        # s2: duplicate line (re-scoring) -> first wins
        Score(sample_id="s2", metric="m", value=1.0, passed=True),
        Score(sample_id="s2", metric="m", value=0.0, passed=False),
        # per-turn score is ignored
        Score(sample_id="s2", turn=0, metric="m", value=0.0, passed=False),
        # s3: the metric errored in the baseline -> not paired for this metric
        Score(sample_id="s3", metric="m", value=None, error="judge: bad reply"),
        Score(sample_id="only_b", metric="m", value=1.0, passed=True),
    ]
    cand = [
        Score(sample_id="s1", repeat=0, metric="m", value=0.0, passed=False),
        Score(sample_id="s1", repeat=1, metric="m", value=0.0, passed=False),
        Score(sample_id="s2", metric="m", value=1.0, passed=True),
        Score(sample_id="s3", metric="m", value=1.0, passed=True),
        Score(sample_id="only_c", metric="m", value=1.0, passed=True),
        Score(sample_id="only_c", metric="new_metric", value=1.0, passed=True),
    ]
    comp = compare_runs(make_run("b", base), make_run("c", cand))
    by = {m.metric: m for m in comp.metrics}
    m = by["m"]
    # s1, s2 and only_b (absent in the candidate: its worst value, 0); s3 has no baseline value
    assert m.n_paired == 3 and m.missing_in_candidate == 1
    assert m.baseline_mean == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    assert m.candidate_mean == pytest.approx((0.0 + 1.0 + 0.0) / 3)
    # the share of passing repeats: s1 0.5 -> 0, only_b 1 -> missing (a fail)
    assert m.regressions == ["only_b", "s1"] and m.error_regressions == ["only_b"]
    assert m.baseline_pass_rate == pytest.approx((0.5 + 1.0 + 0.0 + 1.0) / 4)
    assert m.only_baseline == 1 and m.only_candidate == 1
    assert comp.only_in_baseline == ["only_b"] and comp.only_in_candidate == ["only_c"]
    assert by["new_metric"].n_paired == 0 and by["new_metric"].verdict == "no_change"
    assert any("new_metric" in n and "candidate only" in n for n in comp.notes)
    assert any("no report.json" in n for n in comp.notes)
    assert comp.operational == []


def test_missing_scores_is_a_clear_error(tmp_path: Path, make_run) -> None:
    (tmp_path / "empty").mkdir()
    ok = make_run("ok", binary_scores("m", {"a": True}))
    with pytest.raises(ConfigError, match=r"no scores\.jsonl"):
        compare_runs(tmp_path / "empty", ok)
    with pytest.raises(ConfigError, match="alpha"):
        compare_runs(ok, ok, alpha=1.5)


def test_comparison_round_trips_as_json(make_run) -> None:
    from chatbot_tester.evaluator.compare import Comparison

    base = {sid: True for sid in IDS}
    comp = compare_runs(
        make_run("b", binary_scores("m", base)), make_run("c", binary_scores("m", base))
    )
    again = Comparison.model_validate_json(comp.model_dump_json())
    assert again == comp and again.exit_code == 0


def test_write_comparison_writes_three_files_and_step_summary(
    make_run, tmp_path: Path, monkeypatch
) -> None:
    import json

    from chatbot_tester.evaluator.compare import write_comparison

    summary = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    base = {sid: True for sid in IDS}
    cand = {sid: i >= 12 for i, sid in enumerate(IDS)}
    comp = compare_runs(
        make_run("b", binary_scores("m", base)), make_run("c", binary_scores("m", cand))
    )
    paths = write_comparison(comp, tmp_path / "out")
    assert sorted(paths) == ["compare_html", "compare_json", "compare_md"]
    assert json.loads(paths["compare_json"].read_text())["metrics"][0]["verdict"] == "regression"
    assert "**Regression**" in paths["compare_md"].read_text()
    assert "<!DOCTYPE html>" in paths["compare_html"].read_text()
    assert summary.read_text() == paths["compare_md"].read_text() + "\n"
