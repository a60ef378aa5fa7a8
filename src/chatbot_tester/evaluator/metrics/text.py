"""Reference-based text metrics: ``exact_match``, ``token_f1`` (SQuAD) and ``length``.

``exact_match`` and ``token_f1`` use the normalisation of the official SQuAD v1.1 evaluation
script (lowercase, strip ASCII punctuation, drop the articles a/an/the, collapse whitespace),
each step switchable, and take the best score over all reference answers.
"""

from __future__ import annotations

import functools
import re
import string

from pydantic import Field, model_validator

from chatbot_tester.common.redact import mask_secrets
from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.metrics.base import MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.helpers import (
    AnswerMetric,
    ValueOptions,
    bool_score,
    missing_reference,
    references,
)

__all__ = [
    "ExactMatchMetric",
    "LengthMetric",
    "NormalizeOptions",
    "TokenF1Metric",
    "normalize_text",
    "token_f1",
]

_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)


def normalize_text(
    text: str,
    *,
    ignore_case: bool = True,
    ignore_punctuation: bool = True,
    ignore_articles: bool = True,
    normalize_whitespace: bool = True,
) -> str:
    """SQuAD ``normalize_answer`` with each step optional (all on = the official function)."""
    if ignore_case:
        text = text.lower()
    if ignore_punctuation:
        text = text.translate(_PUNCT_TABLE)
    if ignore_articles:
        text = _ARTICLES.sub(" ", text)
    if normalize_whitespace:
        text = " ".join(text.split())
    return text


def token_f1(prediction_tokens: list[str], reference_tokens: list[str]) -> float:
    """SQuAD token F1; two empty token lists count as a perfect match (as in SQuAD v2)."""
    if not prediction_tokens or not reference_tokens:
        return float(prediction_tokens == reference_tokens)
    left: dict[str, int] = {}  # the reference's token counts (a Counter costs ~3x more here)
    for token in reference_tokens:
        left[token] = left.get(token, 0) + 1
    num_same = 0  # sum over tokens of min(count in prediction, count in reference)
    for token in prediction_tokens:
        n = left.get(token, 0)
        if n:
            num_same += 1
            left[token] = n - 1
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


class NormalizeOptions(ValueOptions):
    """Normalisation switches shared by ``exact_match`` and ``token_f1``."""

    ignore_case: bool = True
    """Lowercase both texts before comparing."""
    ignore_punctuation: bool = True
    """Remove ASCII punctuation."""
    ignore_articles: bool = True
    """Remove the English articles a, an and the."""
    normalize_whitespace: bool = True
    """Collapse runs of whitespace and trim."""

    def normalize(self, text: str) -> str:
        """Apply the enabled steps to ``text``."""
        return _normalize_recent(
            text,
            self.ignore_case,
            self.ignore_punctuation,
            self.ignore_articles,
            self.normalize_whitespace,
        )


@functools.lru_cache(maxsize=32)
def _normalize_recent(text: str, case: bool, punctuation: bool, articles: bool, ws: bool) -> str:
    """``normalize_text``, remembering the last few texts.

    ``exact_match`` and ``token_f1`` run one after the other on the same answer and
    references, so the second one finds them here; a few entries are enough for that.
    """
    return normalize_text(
        text,
        ignore_case=case,
        ignore_punctuation=punctuation,
        ignore_articles=articles,
        normalize_whitespace=ws,
    )


class ExactMatchMetric(AnswerMetric[NormalizeOptions]):
    """1 when the normalised answer equals a normalised reference answer, else 0."""

    Options = NormalizeOptions
    description = (
        "Answer equals a reference after SQuAD normalisation (case, punctuation, articles, spaces)."
    )

    def check(self, item: MetricInput, output: str) -> Score:
        """Compare the normalised answer with each normalised reference."""
        opts = self.options
        refs = references(item, opts.value)
        if not refs:
            return missing_reference(self, item)
        answer = opts.normalize(output)
        for i, ref in enumerate(refs):
            if opts.normalize(ref) == answer:
                return bool_score(self, item, True, f"matches reference {i + 1}")
        shown = mask_secrets(answer)  # the normalised copy too, before the cut
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return bool_score(self, item, False, f"'{shown}' matches none of {len(refs)} reference(s)")


class TokenF1Options(NormalizeOptions):
    """Options of ``token_f1``."""

    threshold: float | None = Field(default=0.5)
    """Pass when the best F1 reaches this."""


class TokenF1Metric(AnswerMetric[TokenF1Options]):
    """SQuAD token-overlap F1 between the answer and the best reference."""

    Options = TokenF1Options
    description = "SQuAD token F1 between the answer and the best reference (passes at >= threshold, default 0.5)."

    def check(self, item: MetricInput, output: str) -> Score:
        """Best F1 over the references."""
        opts = self.options
        refs = references(item, opts.value)
        if not refs:
            return missing_reference(self, item)
        answer = opts.normalize(output).split()
        best, best_i = -1.0, 0
        for i, ref in enumerate(refs):
            f1 = token_f1(answer, opts.normalize(ref).split())
            if f1 > best:
                best, best_i = f1, i
        return self.make(item, best, reason=f"best F1 {best:.3f} (reference {best_i + 1})")


class LengthOptions(MetricOptions):
    """Bounds on the answer's length; at least one is required."""

    min_chars: int | None = Field(default=None, ge=0)
    """Fewest characters allowed."""
    max_chars: int | None = Field(default=None, ge=0)
    """Most characters allowed."""
    min_words: int | None = Field(default=None, ge=0)
    """Fewest whitespace-separated words allowed."""
    max_words: int | None = Field(default=None, ge=0)
    """Most whitespace-separated words allowed."""

    @model_validator(mode="after")
    def _some_bound(self) -> LengthOptions:
        if all(v is None for v in (self.min_chars, self.max_chars, self.min_words, self.max_words)):
            raise ValueError("set at least one of min_chars, max_chars, min_words, max_words")
        return self


class LengthMetric(AnswerMetric[LengthOptions]):
    """1 when the answer's length is within the configured character/word bounds."""

    Options = LengthOptions
    description = "Answer length within min/max characters or words."

    def check(self, item: MetricInput, output: str) -> Score:
        """Check every configured bound and report the first violated one."""
        opts = self.options
        chars = len(output)
        words = len(output.split())
        problems: list[str] = []
        if opts.min_chars is not None and chars < opts.min_chars:
            problems.append(f"{chars} chars < min {opts.min_chars}")
        if opts.max_chars is not None and chars > opts.max_chars:
            problems.append(f"{chars} chars > max {opts.max_chars}")
        if opts.min_words is not None and words < opts.min_words:
            problems.append(f"{words} words < min {opts.min_words}")
        if opts.max_words is not None and words > opts.max_words:
            problems.append(f"{words} words > max {opts.max_words}")
        reason = "; ".join(problems) if problems else f"{chars} chars, {words} words"
        return bool_score(self, item, not problems, reason, {"chars": chars, "words": words})
