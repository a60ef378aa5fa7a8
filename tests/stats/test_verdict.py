"""The release verdict on seeded controlled bots: directions, familywise error, power, honesty.

Library-level: each run is a scores.jsonl written from ``verdict_bots`` and compared with
``compare_runs``; two cases also go through the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from verdict_bots import bot_scores, write_bot_run

from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.compare import compare_runs
from chatbot_tester.evaluator.compare_tests import holm
from chatbot_tester.evaluator.reports.compare_md import render_markdown

OPS = ("exact_match", "latency", "cost")


def _pair(tmp: Path, name: str, base: list[Score], cand: list[Score]) -> tuple[Path, Path]:
    return write_bot_run(tmp / f"{name}-b", base), write_bot_run(tmp / f"{name}-c", cand)


def test_unchanged_bot_three_metrics_false_alarm_rate_at_most_5pct(tmp_path: Path) -> None:
    pairs, alarms, uncorrected = 200, 0, 0
    for k in range(pairs):
        b, c = _pair(
            tmp_path,
            f"p{k}",
            bot_scores(100, run_seed=2 * k + 1, data_seed=k),
            bot_scores(100, run_seed=2 * k + 2, data_seed=k),
        )
        comp = compare_runs(b, c)
        alarms += comp.exit_code
        uncorrected += any(m.p_value is not None and m.p_value < 0.05 for m in comp.metrics)
    assert alarms / pairs <= 0.05, (alarms, uncorrected)


@pytest.mark.parametrize(("speed", "price", "code"), [(0.5, 1 / 3, 0), (2.0, 3.0, 1)])
def test_faster_cheaper_passes_and_slower_costlier_regresses(
    tmp_path: Path, speed: float, price: float, code: int
) -> None:
    base = bot_scores(200, run_seed=1, metrics=OPS)
    cand = bot_scores(200, run_seed=1, speed=speed, price=price, metrics=OPS)
    comp = compare_runs(*_pair(tmp_path, "x", base, cand))
    by = {m.metric: m for m in comp.metrics}
    assert by["latency"].direction == by["cost"].direction == "lower"
    want = "improvement" if code == 0 else "regression"
    assert by["latency"].verdict == by["cost"].verdict == want
    assert by["exact_match"].verdict == "no_change"
    assert comp.exit_code == code


@pytest.mark.parametrize(("speed", "price", "code"), [(0.5, 1 / 3, 0), (2.0, 3.0, 1)])
def test_direction_through_the_real_cli(
    tmp_path: Path, speed: float, price: float, code: int
) -> None:
    base = bot_scores(100, run_seed=1, metrics=OPS)
    cand = bot_scores(100, run_seed=1, speed=speed, price=price, metrics=OPS)
    b, c = _pair(tmp_path, "cli", base, cand)
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "compare", str(b), str(c), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    data = json.loads(proc.stdout)
    verdicts = {m["metric"]: m["verdict"] for m in data["metrics"]}
    assert verdicts["latency"] == ("improvement" if code == 0 else "regression")
    assert all(m["p_adjusted"] is not None for m in data["metrics"] if m["metric"] != "exact_match")


def test_identical_rerun_with_jitter_is_noise(tmp_path: Path) -> None:
    flagged = 0
    for k in range(50):
        base = bot_scores(200, run_seed=10 * k, answer_seed=k, metrics=("latency",))
        cand = bot_scores(200, run_seed=10 * k + 1, answer_seed=k, metrics=("latency",))
        comp = compare_runs(*_pair(tmp_path, f"j{k}", base, cand))
        flagged += comp.exit_code
    assert flagged == 0


def test_pass_rate_up_is_an_improvement(tmp_path: Path) -> None:
    ids = [f"s{i:03d}" for i in range(100)]
    base = [
        Score(sample_id=s, metric="m", value=float(i < 84), passed=i < 84)
        for i, s in enumerate(ids)
    ]
    cand = [
        Score(sample_id=s, metric="m", value=float(i < 96), passed=i < 96)
        for i, s in enumerate(ids)
    ]
    (m,) = compare_runs(*_pair(tmp_path, "up", base, cand)).metrics
    assert m.verdict == "improvement" and m.test == "mcnemar"


def test_planted_drop_of_010_at_n1000_is_caught(tmp_path: Path) -> None:
    trials, caught = 40, 0
    for k in range(trials):
        b, c = _pair(
            tmp_path,
            f"d{k}",
            bot_scores(1000, run_seed=2 * k + 1, data_seed=k, metrics=("exact_match", "latency")),
            bot_scores(
                1000,
                run_seed=2 * k + 2,
                data_seed=k,
                accuracy_drop=0.10,
                metrics=("exact_match", "latency"),
            ),
        )
        caught += compare_runs(b, c).exit_code
    assert caught / trials >= 0.95


def test_crashed_candidate_is_a_regression_unless_allowed(tmp_path: Path) -> None:
    base = bot_scores(200, run_seed=1, metrics=("exact_match",))
    cand = [s for s in base if int(s.sample_id[1:]) < 60]  # killed after 60 of 200 samples
    b = write_bot_run(tmp_path / "b", base, status="completed")
    c = write_bot_run(tmp_path / "c", cand, status="interrupted")
    comp = compare_runs(b, c)
    assert comp.partial_candidate and comp.exit_code == 1
    assert comp.missing_in_candidate == 140
    assert comp.metrics[0].verdict == "regression"  # the 140 missing samples count as fails
    md = render_markdown(comp)
    first = md.splitlines()[2]
    assert "140 baseline samples are missing" in first
    assert "did not complete" in md
    assert compare_runs(b, c, allow_partial=True).allow_partial


def test_errored_graded_samples_count_against_the_candidate(tmp_path: Path) -> None:
    ids = [f"s{i:03d}" for i in range(200)]
    base = [Score(sample_id=s, metric="bleu", value=0.84) for s in ids]
    cand = [
        Score(sample_id=s, metric="bleu", value=1.0)
        if i < 150
        else Score(sample_id=s, metric="bleu", error="backend: timeout")
        for i, s in enumerate(ids)
    ]
    comp = compare_runs(*_pair(tmp_path, "bleu", base, cand))
    (m,) = comp.metrics
    assert m.missing_in_candidate == 50 and m.candidate_mean == pytest.approx(0.75)
    assert m.verdict == "regression" and comp.exit_code == 1


def _config(repeat: int, threshold: float) -> dict[str, object]:
    return {
        "runner": {"repeat": repeat},
        "evaluator": {"metrics": [{"type": "token_f1", "threshold": threshold}]},
    }


def test_not_like_for_like_is_refused_unless_forced(tmp_path: Path) -> None:
    scores = bot_scores(50, run_seed=1, metrics=("token_f1",))
    b = write_bot_run(tmp_path / "b", scores, config=_config(2, 0.5), dataset_hash="sha256:aa")
    for name, cfg, dh, what in [
        ("r", _config(1, 0.5), "sha256:aa", "repeat counts differ"),
        ("t", _config(2, 0.9), "sha256:aa", "metric 'token_f1' is configured differently"),
        ("d", _config(2, 0.5), "sha256:bb", "dataset contents differ"),
    ]:
        c = write_bot_run(tmp_path / name, scores, config=cfg, dataset_hash=dh)
        with pytest.raises(ConfigError, match=what):
            compare_runs(b, c)
        forced = compare_runs(b, c, force=True)
        assert forced.differences and what in forced.differences[0]
        assert "Not like-for-like" in render_markdown(forced)


def test_generated_ids_pair_by_input_content(tmp_path: Path) -> None:
    questions = [f"question {i}" for i in range(30)]
    moved = ["inserted question", *questions]
    runs = []
    for name, qs in (("b", questions), ("c", moved)):
        path = tmp_path / name
        path.mkdir()
        rows = [{"id": f"row-{i + 1}", "input": q} for i, q in enumerate(qs)]
        (path / "dataset.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        # every answer is right: pairing by id would compare different questions
        scores = [
            Score(sample_id=r["id"], metric="m", value=1.0, passed=True)
            for r in rows
            if r["input"] != "inserted question"
        ]
        runs.append(write_bot_run(path, scores))
    comp = compare_runs(runs[0], runs[1])
    (m,) = comp.metrics
    assert m.pass_to_fail == 0 and m.n_pass_paired == 30 and m.missing_in_candidate == 0
    assert any("paired by input content" in n for n in comp.notes)


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([]) == []
