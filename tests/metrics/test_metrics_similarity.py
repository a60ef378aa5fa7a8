"""levenshtein/fuzzy vs rapidfuzz, bleu vs sacrebleu, rouge vs rouge-score."""

from __future__ import annotations

import pytest
import sacrebleu
from ct_metric_kit import create, make_item, run
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein
from rouge_score import rouge_scorer

PAIRS = [
    ("The cat sat on the mat.", ["The cat is on the mat.", "A cat sat on a mat."]),
    ("Paris is the capital of France.", ["The capital of France is Paris."]),
    ("completely different", ["nothing in common here at all"]),
    ("", ["empty answer"]),
    ("kitten", ["sitting"]),
    (
        "We ship to the EU, UK and US within 5 business days.\nReturns are free.",
        ["Shipping to EU, UK and US takes 5 business days.\nReturns cost nothing."],
    ),
]


@pytest.mark.parametrize(("hyp", "refs"), PAIRS)
def test_levenshtein_and_fuzzy_equal_rapidfuzz(hyp: str, refs: list[str]) -> None:
    item = make_item(hyp, refs)
    assert run("levenshtein", item).value == pytest.approx(
        max(Levenshtein.normalized_similarity(hyp, r) for r in refs)
    )
    assert run("fuzzy", item).value == pytest.approx(max(fuzz.ratio(hyp, r) / 100 for r in refs))
    for method, fn in [
        ("partial_ratio", fuzz.partial_ratio),
        ("token_set_ratio", fuzz.token_set_ratio),
    ]:
        got = run("fuzzy", item, {"method": method}).value
        assert got == pytest.approx(max(fn(hyp, r) / 100 for r in refs))
    assert run("levenshtein", item, {"method": "ratio"}).value == pytest.approx(
        max(fuzz.ratio(hyp, r) / 100 for r in refs)
    )


def test_levenshtein_ignore_case_and_threshold() -> None:
    assert run("levenshtein", make_item("HELLO", "hello")).value == 0.0
    s = run("levenshtein", make_item("HELLO", "hello"), {"ignore_case": True, "threshold": 0.9})
    assert s.value == 1.0 and s.passed is True
    assert run("levenshtein", make_item("kitten", "sitting"), {"threshold": 0.9}).passed is False


@pytest.mark.parametrize(("hyp", "refs"), PAIRS)
def test_bleu_equals_sacrebleu(hyp: str, refs: list[str]) -> None:
    expected = sacrebleu.sentence_bleu(hyp, refs).score / 100
    s = run("bleu", make_item(hyp, refs))
    assert s.value == pytest.approx(expected, abs=1e-12)
    lower = sacrebleu.sentence_bleu(hyp, refs, lowercase=True, tokenize="intl").score / 100
    assert run(
        "bleu", make_item(hyp, refs), {"lowercase": True, "tokenize": "intl"}
    ).value == pytest.approx(lower)


@pytest.mark.parametrize("variant", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
@pytest.mark.parametrize("stat", ["f", "p", "r"])
@pytest.mark.parametrize("stem", [False, True])
def test_rouge_equals_rouge_score(variant: str, stat: str, stem: bool) -> None:
    scorer = rouge_scorer.RougeScorer([variant], use_stemmer=stem)
    field = {"f": "fmeasure", "p": "precision", "r": "recall"}[stat]
    cases = [*PAIRS, ("the cat", ["the cat sat on the mat quietly", "the dog"])]
    for hyp, refs in cases:  # the best reference's statistic, as rouge-score's score_multi
        expected = getattr(scorer.score_multi(refs, hyp)[variant], field)
        s = run(
            "rouge", make_item(hyp, refs), {"variant": variant, "stat": stat, "use_stemmer": stem}
        )
        assert s.value == pytest.approx(expected, abs=1e-12), (hyp, refs)


def test_rouge_precision_comes_from_the_best_reference() -> None:
    # "the dog" has the best F (0.5) but precision 0.5; the other reference has precision 1
    item = make_item("the cat", ["the cat sat on the mat quietly", "the dog"])
    assert run("rouge", item, {"variant": "rouge1", "stat": "p"}).value == pytest.approx(0.5)


def test_similarity_rejects_unknown_method() -> None:
    from chatbot_tester.errors import ConfigError

    with pytest.raises(ConfigError, match="method"):
        create("fuzzy", {"method": "jaro"})
    with pytest.raises(ConfigError, match="variant"):
        create("rouge", {"variant": "rouge3"})
