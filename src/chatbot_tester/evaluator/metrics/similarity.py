"""String-similarity metrics: ``levenshtein``/``fuzzy`` (rapidfuzz), ``bleu`` (sacrebleu), ``rouge``.

Each takes the best value over the reference answers. The libraries are imported when a
metric is created, never when the registry is imported; ``bleu`` and ``rouge`` need the
``nlp`` extra and say so when it is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from typing_extensions import TypeVar as DefaultedTypeVar

from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics.base import MetricContext, MetricInput
from chatbot_tester.evaluator.metrics.helpers import (
    AnswerMetric,
    ValueOptions,
    missing_reference,
    references,
)

__all__ = ["BleuMetric", "FuzzyMetric", "LevenshteinMetric", "RougeMetric"]

FuzzyMethod = Literal["ratio", "partial_ratio", "token_set_ratio", "normalized_levenshtein"]

NLP_HINT = "install the extra: pip install 'chatbot-tester[nlp]'"


def _fuzzy_function(method: FuzzyMethod) -> Callable[[str, str], float]:
    from rapidfuzz import fuzz
    from rapidfuzz.distance import Levenshtein

    if method == "normalized_levenshtein":
        return lambda a, b: float(Levenshtein.normalized_similarity(a, b))
    scorer = {
        "ratio": fuzz.ratio,
        "partial_ratio": fuzz.partial_ratio,
        "token_set_ratio": fuzz.token_set_ratio,
    }[method]
    return lambda a, b: float(scorer(a, b)) / 100.0


class LevenshteinOptions(ValueOptions):
    """Options of ``levenshtein``."""

    method: FuzzyMethod = "normalized_levenshtein"
    """Similarity: normalized_levenshtein (1 - distance/max length), or a rapidfuzz ratio."""
    ignore_case: bool = False
    """Lowercase both texts first."""


class FuzzyOptions(LevenshteinOptions):
    """Options of ``fuzzy`` (rapidfuzz ``ratio`` by default)."""

    method: FuzzyMethod = "ratio"
    """Similarity: ratio, partial_ratio, token_set_ratio or normalized_levenshtein."""


_LevenshteinT = DefaultedTypeVar(
    "_LevenshteinT", bound=LevenshteinOptions, default=LevenshteinOptions, covariant=True
)
"""Options of ``levenshtein`` or of a metric built on it (``fuzzy``)."""


class LevenshteinMetric(AnswerMetric[_LevenshteinT]):
    """Edit-distance similarity (0..1) between the answer and the closest reference."""

    Options = LevenshteinOptions
    description = "Normalised Levenshtein similarity (0..1) to the closest reference."

    def __init__(self, options: _LevenshteinT, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        self._similarity = _fuzzy_function(options.method)

    def check(self, item: MetricInput, output: str) -> Score:
        """Best similarity over the references."""
        opts = self.options
        refs = references(item, opts.value)
        if not refs:
            return missing_reference(self, item)
        answer = output.lower() if opts.ignore_case else output
        best = max(self._similarity(answer, r.lower() if opts.ignore_case else r) for r in refs)
        return self.make(item, best, reason=f"{opts.method} {best:.3f}")


class FuzzyMetric(LevenshteinMetric[FuzzyOptions]):
    """rapidfuzz ratio (0..1) between the answer and the closest reference."""

    Options = FuzzyOptions
    description = (
        "Fuzzy string similarity (rapidfuzz ratio / partial_ratio / token_set_ratio), 0..1."
    )


class BleuOptions(ValueOptions):
    """Options of ``bleu`` (passed to ``sacrebleu.sentence_bleu``)."""

    tokenize: str = "13a"
    """sacrebleu tokenizer: 13a, intl, char, zh, ja-mecab, none, ..."""
    lowercase: bool = False
    """Lowercase before scoring."""
    smooth_method: Literal["exp", "floor", "add-k", "none"] = "exp"
    """Smoothing for sentence-level BLEU."""


class BleuMetric(AnswerMetric[BleuOptions]):
    """Sentence BLEU (sacrebleu, 0..1) of the answer against all references."""

    Options = BleuOptions
    description = "Sentence BLEU (sacrebleu) against the references, 0..1 (extra: nlp)."

    def __init__(self, options: BleuOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        try:
            import sacrebleu  # noqa: F401
        except ImportError:
            raise ConfigError(f"metric '{name}' needs sacrebleu: {NLP_HINT}") from None

    def check(self, item: MetricInput, output: str) -> Score:
        """``sentence_bleu(answer, references).score / 100``."""
        import sacrebleu

        opts = self.options
        refs = references(item, opts.value)
        if not refs:
            return missing_reference(self, item)
        result = sacrebleu.sentence_bleu(
            output,
            refs,
            smooth_method=opts.smooth_method,
            tokenize=opts.tokenize,
            lowercase=opts.lowercase,
        )
        value = float(result.score) / 100.0
        return self.make(item, value, reason=f"BLEU {result.score:.1f}")


class RougeOptions(ValueOptions):
    """Options of ``rouge`` (Google's ``rouge-score`` implementation)."""

    variant: Literal["rouge1", "rouge2", "rougeL", "rougeLsum"] = "rougeL"
    """ROUGE variant (rougeLsum splits sentences on newlines)."""
    stat: Literal["f", "p", "r"] = "f"
    """Which statistic: F-measure, precision or recall."""
    use_stemmer: bool = False
    """Porter-stem tokens before matching."""


class RougeMetric(AnswerMetric[RougeOptions]):
    """ROUGE (rouge-score) between the answer and the best reference."""

    Options = RougeOptions
    description = (
        "ROUGE-1/2/L/Lsum F, precision or recall (rouge-score), best reference (extra: nlp)."
    )

    def __init__(self, options: RougeOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        try:
            from rouge_score import rouge_scorer
        except ImportError:
            raise ConfigError(f"metric '{name}' needs rouge-score: {NLP_HINT}") from None
        self._scorer: Any = rouge_scorer.RougeScorer(
            [options.variant], use_stemmer=options.use_stemmer
        )

    def check(self, item: MetricInput, output: str) -> Score:
        """The statistic of the best reference (highest F-measure, first on ties).

        Like rouge-score's ``score_multi``: precision and recall come from the reference that
        matches best overall, not from whichever reference maximises each statistic alone.
        """
        opts = self.options
        refs = references(item, opts.value)
        if not refs:
            return missing_reference(self, item)
        field = {"f": "fmeasure", "p": "precision", "r": "recall"}[opts.stat]
        scores = [self._scorer.score(ref, output)[opts.variant] for ref in refs]
        chosen = max(range(len(scores)), key=lambda i: (float(scores[i].fmeasure), -i))
        best = float(getattr(scores[chosen], field))
        return self.make(item, best, reason=f"{opts.variant} {opts.stat} {best:.3f}")
