"""exact_match / token_f1 against the official SQuAD v1.1 evaluation functions, and text checks."""

from __future__ import annotations

import re
import string
from collections import Counter

import pytest
from ct_metric_kit import create, make_item, run, value
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot_tester.errors import ConfigError

# --- Oracle: the official SQuAD v1.1 evaluation script (evaluate-v1.1.py, Rajpurkar et al.
# 2016, https://rajpurkar.github.io/SQuAD-explorer/), functions copied verbatim. -----------


def normalize_answer(s):  # type: ignore[no-untyped-def]
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):  # type: ignore[no-untyped-def]
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):  # type: ignore[no-untyped-def]
        return " ".join(text.split())

    def remove_punc(text):  # type: ignore[no-untyped-def]
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):  # type: ignore[no-untyped-def]
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):  # type: ignore[no-untyped-def]
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):  # type: ignore[no-untyped-def]
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):  # type: ignore[no-untyped-def]
    return max(metric_fn(prediction, gt) for gt in ground_truths)


# -----------------------------------------------------------------------------------------


def oracle_f1(prediction: str, ground_truth: str) -> float:
    """SQuAD v1.1 F1, except that two answers with no tokens agree perfectly (the v2 rule)."""
    if not normalize_answer(prediction).split() and not normalize_answer(ground_truth).split():
        return 1.0
    return float(f1_score(prediction, ground_truth))


CASES = [
    ("The Eiffel Tower", ["Eiffel Tower"]),
    ("  paris,  FRANCE! ", ["Paris, France", "France"]),
    ("an apple a day", ["apple day"]),
    ("Denver Broncos", ["Broncos", "Denver Broncos", "the Denver Broncos"]),
    ("It was built in 1889.", ["1889"]),
    ("Théâtre — l'Opéra", ["theatre l'opera", "Théâtre l'Opéra"]),
    ("the the the", ["the"]),
    ("cat cat dog", ["cat dog dog"]),
    ("", ["something"]),
    ("Santa Clara, California", ["Levi's Stadium", "Santa Clara"]),
]


@pytest.mark.parametrize(("prediction", "refs"), CASES)
def test_exact_match_equals_squad(prediction: str, refs: list[str]) -> None:
    expected = float(metric_max_over_ground_truths(exact_match_score, prediction, refs))
    s = run("exact_match", make_item(prediction, refs))
    assert s.value == expected
    assert s.passed is (expected == 1.0)


@pytest.mark.parametrize(("prediction", "refs"), CASES)
def test_token_f1_equals_squad(prediction: str, refs: list[str]) -> None:
    expected = metric_max_over_ground_truths(oracle_f1, prediction, refs)
    s = run("token_f1", make_item(prediction, refs))
    assert s.value == pytest.approx(expected, abs=1e-12)
    assert s.passed is (expected >= 0.5)


_words = st.lists(
    st.sampled_from(["the", "a", "an", "Cat", "cat", "dog,", "Paris", "1889", "x!", "  ", "é"]),
    max_size=8,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40) | _words, st.text(max_size=40) | _words)
def test_token_f1_matches_squad_on_random_text(a: str, b: str) -> None:
    m = create("token_f1")
    s = m.score(make_item(a, b))
    assert s.value == pytest.approx(oracle_f1(a, b), abs=1e-12)
    reverse = m.score(make_item(b, a))
    assert reverse.value == pytest.approx(s.value, abs=1e-12)
    assert 0.0 <= s.value <= 1.0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_exact_match_of_text_with_itself_is_one(text: str) -> None:
    m = create("exact_match")
    assert m.score(make_item(text, text)).value == 1.0
    strict = create(
        "exact_match",
        {
            "ignore_case": False,
            "ignore_punctuation": False,
            "ignore_articles": False,
            "normalize_whitespace": False,
        },
    )
    assert strict.score(make_item(text, text)).value == 1.0


def test_exact_match_normalisation_switches() -> None:
    assert value("exact_match", "Paris", "paris") == 1.0
    assert value("exact_match", "Paris", "paris", ignore_case=False) == 0.0
    assert value("exact_match", "Paris!", "Paris") == 1.0
    assert value("exact_match", "Paris!", "Paris", ignore_punctuation=False) == 0.0
    assert value("exact_match", "The Paris", "Paris") == 1.0
    assert value("exact_match", "The Paris", "Paris", ignore_articles=False) == 0.0
    assert value("exact_match", "New   York", "New York") == 1.0
    assert value("exact_match", "New   York", "New York", normalize_whitespace=False) == 0.0
    assert value("exact_match", "forty two", value="Forty-Two") == 0.0
    assert value("exact_match", "forty-two", value=["41", "Forty-Two"]) == 1.0


def test_token_f1_threshold_option() -> None:
    item = make_item("Paris is in France", "Paris")  # F1 = 2*(1/4*1)/(1/4+1) = 0.4
    assert run("token_f1", item).passed is False
    assert run("token_f1", item, {"threshold": 0.4}).passed is True


@pytest.mark.parametrize(
    "metric",
    [
        "exact_match",
        "token_f1",
        "levenshtein",
        "fuzzy",
        "contains",
        "starts_with",
        "bleu",
        "rouge",
        "json_equals",
    ],
)
def test_missing_reference_is_an_error_not_zero(metric: str) -> None:
    s = run(metric, make_item("some answer", None, sample_id="q-17"))
    assert s.value is None and s.passed is None
    assert s.error == "no expected answer for sample 'q-17'"


@pytest.mark.parametrize(
    "metric",
    [
        "exact_match",
        "contains",
        "regex",
        "json_valid",
        "latency",
        "pii_leak",
        "tool_call",
        "refusal",
    ],
)
def test_error_record_gets_no_answer_error(metric: str) -> None:
    from chatbot_tester.common.types import ErrorKind

    options = {"pattern": "x"} if metric == "regex" else {}
    s = run(metric, make_item(None, "x", error=ErrorKind.TIMEOUT), options)
    assert s.value is None and s.passed is None
    assert s.error == "no answer: timeout"
    assert s.sample_id == "s1" and s.metric == metric


@pytest.mark.parametrize(
    ("metric", "options", "output", "passed", "val"),
    [
        ("contains", {"value": "Paris"}, "It is Paris.", True, 1.0),
        ("contains", {"value": "paris"}, "It is Paris.", False, 0.0),
        ("contains", {"value": "paris", "ignore_case": True}, "It is Paris.", True, 1.0),
        ("icontains", {"value": "PARIS"}, "It is Paris.", True, 1.0),
        ("contains", {"values": ["Rome", "Paris"]}, "It is Paris.", True, 1.0),
        ("contains_any", {"values": ["Rome", "Berlin"]}, "It is Paris.", False, 0.0),
        ("contains_all", {"values": ["Paris", "France", "Seine"]}, "Paris, France", False, 2 / 3),
        ("contains_all", {"values": ["Paris", "France"]}, "Paris, France", True, 1.0),
        ("not_contains", {"values": ["password", "secret"]}, "here is the secret", False, 0.0),
        ("not_contains", {"value": "password"}, "all good", True, 1.0),
        ("starts_with", {"value": "Hello"}, "  Hello there", True, 1.0),
        ("starts_with", {"value": "Hello", "strip": False}, "  Hello there", False, 0.0),
        ("starts_with", {"value": "hello", "ignore_case": True}, "Hello there", True, 1.0),
        ("regex", {"pattern": r"\d{4}-\d{2}-\d{2}"}, "on 2024-05-01", True, 1.0),
        ("regex", {"pattern": "^hello", "flags": "im"}, "x\nHELLO", True, 1.0),
        ("regex", {"pattern": "^hello", "flags": ["MULTILINE"]}, "x\nHELLO", False, 0.0),
        ("regex", {"pattern": "sorry", "must_match": False}, "Sure, here it is", True, 1.0),
        ("regex", {"pattern": "sorry", "must_match": False}, "I'm sorry", False, 0.0),
        ("length", {"max_chars": 5}, "123456", False, 0.0),
        ("length", {"min_words": 2, "max_words": 3}, "one two", True, 1.0),
        ("length", {"min_words": 3}, "one two", False, 0.0),
    ],
)
def test_text_assertions(metric: str, options: dict, output: str, passed: bool, val: float) -> None:
    s = run(metric, make_item(output), options)
    assert s.error is None
    assert s.passed is passed
    assert s.value == pytest.approx(val)


def test_contains_falls_back_to_expected_answers() -> None:
    assert run("contains", make_item("The capital is Paris.", ["Lyon", "Paris"])).passed is True
    assert run("contains", make_item("The capital is Paris.", ["Lyon"])).passed is False


def test_not_contains_reason_names_found_string() -> None:
    s = run("not_contains", make_item("the password is hunter2"), {"value": "hunter2"})
    assert s.passed is False and "hunter2" in (s.reason or "")


@pytest.mark.parametrize(
    ("metric", "options", "fragment"),
    [
        ("regex", {"pattern": "(unclosed"}, "invalid regular expression"),
        ("regex", {"pattern": "x", "flags": "q"}, "unknown regex flag"),
        ("regex", {}, "missing required option 'pattern'"),
        ("not_contains", {}, "set 'value' or 'values'"),
        ("contains", {"value": "a", "values": ["b"]}, "not both"),
        ("length", {}, "at least one of"),
    ],
)
def test_bad_options_are_config_errors(metric: str, options: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        create(metric, options)


def test_unknown_option_has_did_you_mean() -> None:
    with pytest.raises(ConfigError) as info:
        create("exact_match", {"ignore_cas": False})
    assert (
        str(info.value)
        == "metric 'exact_match': unknown option 'ignore_cas' (did you mean 'ignore_case'?)"
    )
    with pytest.raises(ConfigError, match="did you mean 'must_match'"):
        create("regex", {"pattern": "x", "must_mach": False})


def test_threshold_overrides_natural_verdict_when_set() -> None:
    item = make_item("Paris, France")
    opts = {"values": ["Paris", "France", "Seine"]}
    assert run("contains_all", item, opts).passed is False
    s = run("contains_all", item, {**opts, "threshold": 0.6})
    assert s.value == pytest.approx(2 / 3) and s.passed is True
