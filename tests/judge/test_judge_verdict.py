"""Strict verdict parsing and vote tallying."""

from __future__ import annotations

import pytest

from chatbot_tester.evaluator.metrics.judge_verdict import (
    Vote,
    parse_pairwise,
    parse_verdict,
    tally_votes,
)

SCALE = (1.0, 5.0)


@pytest.mark.parametrize(
    "reply",
    [
        '{"score": 4, "reason": "good"}',
        '  \n{"score": 4.0, "reason": "good"}\n ',
        '```json\n{"score": 4, "reason": "good"}\n```',
        '```\n{"score": 4, "reason": "good"}\n```\n',
    ],
)
def test_valid_verdicts(reply: str) -> None:
    v = parse_verdict(reply, SCALE)
    assert v.score == 4.0 and v.reason == "good"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "nothing"),
        ("I'd give it a 4.", "not a JSON object"),
        ('Sure! {"score": 4, "reason": "good"}', "not a JSON object"),
        ('{"score": 4}', "reason"),
        ('{"reason": "good"}', "score"),
        ('{"score": "4", "reason": "good"}', "score"),
        ('{"score": true, "reason": "good"}', "score"),
        ('{"score": 4, "reason": "good", "confidence": 0.9}', "confidence"),
        ('{"score": 7, "reason": "great"}', "outside the scale"),
        ('{"score": 0, "reason": "bad"}', "outside the scale"),
        ('{"score": NaN, "reason": "?"}', "judge"),
        ("[4]", "judge"),
        ('{"score": 4, "reason": "good"} {"score": 5, "reason": "x"}', "not a JSON object"),
    ],
)
def test_invalid_verdicts_are_errors(reply: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_verdict(reply, SCALE)


def test_pairwise_verdicts() -> None:
    assert parse_pairwise('{"winner": "B", "reason": "x"}').winner == "B"
    with pytest.raises(ValueError):
        parse_pairwise('{"winner": "C", "reason": "x"}')
    with pytest.raises(ValueError):
        parse_pairwise('{"winner": "a", "reason": "x"}')


def votes(*scores: float | None) -> list[Vote]:
    return [Vote(s, f"r{s}", None if s is not None else "bad reply") for s in scores]


def test_majority_is_the_median_vote() -> None:
    t = tally_votes(votes(2, 5, 5), SCALE, 4.0, "majority")
    assert t.raw == 5 and t.value == 1.0 and t.passed is True
    assert t.agreement == pytest.approx(2 / 3) and t.unstable is True
    assert t.reason == "r5"


def test_mean_aggregate_normalises() -> None:
    t = tally_votes(votes(2, 5, 5), SCALE, 4.0, "mean")
    assert t.raw == pytest.approx(4.0) and t.value == pytest.approx(0.75) and t.passed is True


def test_unanimous_votes_are_stable() -> None:
    t = tally_votes(votes(1, 1, 2), SCALE, 4.0, "majority")
    assert t.passed is False and t.agreement == 1.0 and not t.unstable and t.value == 0.0


def test_errored_votes_are_left_out_never_zero() -> None:
    t = tally_votes(votes(None, 5, None), SCALE, 4.0, "majority")
    assert t.value == 1.0 and t.errors == 2 and t.error is None
    t = tally_votes(votes(None, None), SCALE, 4.0, "mean")
    assert t.value is None and t.passed is None and t.error == "bad reply" and t.errors == 2
