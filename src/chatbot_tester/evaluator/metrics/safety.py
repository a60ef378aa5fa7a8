"""Refusal and hand-off detection: ``refusal`` (and its alias ``handoff``).

The answer is classified as ``handoff`` (the bot passes the user to a human), ``refuse``
(the bot declines) or ``answer`` (neither), with case-insensitive regular expressions; the
metric passes when the class is the expected one. The default patterns cover common English
phrasings; replace them (``refusal_patterns``) or extend them (``extra_refusal_patterns``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from typing_extensions import TypeVar as DefaultedTypeVar

from chatbot_tester.common.schemas import Score
from chatbot_tester.common.types import empty_list
from chatbot_tester.evaluator.metrics.base import MetricContext, MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.helpers import AnswerMetric, bool_score

__all__ = [
    "DEFAULT_HANDOFF_PATTERNS",
    "DEFAULT_REFUSAL_PATTERNS",
    "HandoffMetric",
    "RefusalMetric",
    "classify_reply",
]

_CANT = r"(?:can(?:no|')t|can not|am unable to|'m unable to|am not able to|'m not able to|won't be able to|will not be able to|am not allowed to|'m not allowed to|am not permitted to|'m not permitted to)"

DEFAULT_REFUSAL_PATTERNS: tuple[str, ...] = (
    rf"\bI {_CANT} (?:help|assist|provide|share|give|do|answer|comply|support|disclose|discuss|fulfil|fulfill|complete|process|generate|create|write|offer|tell|recommend)",
    r"\bI(?:'m| am) (?:sorry|afraid),? but I (?:can(?:no|')t|cannot|won't|am unable|'m unable|am not able|'m not able)",
    r"\bI(?:'m| am) (?:unable|not able) to\b",
    r"\bI (?:must|have to|need to|will have to) (?:respectfully )?(?:decline|refuse)\b",
    r"\bI(?: will|'ll) not be (?:able to )?(?:help|assist)",
    r"\bI won't (?:help|assist|provide|share|do that)",
    r"\bI(?: do not|'m not| don't| am not) (?:feel )?comfortable (?:helping|providing|sharing|answering|with)",
    r"\b(?:that|this|it)(?:'s| is) (?:not something I can|outside (?:of )?(?:my|the) scope|beyond (?:my|the) scope)",
    r"\b(?:against|violates?) (?:my|our|the) (?:policy|policies|guidelines|terms|content policy)",
    r"\bI(?:'m| am) not (?:allowed|permitted|authori[sz]ed) to\b",
    r"\bas an AI(?: language model| assistant)?,? I (?:can(?:no|')t|cannot|am unable|don't|do not)",
    r"\bunable to (?:help|assist) with (?:that|this|your request)",
    r"\bI can(?:no|')t (?:help|assist) (?:you )?with (?:that|this)",
)
"""Phrases of a refusal (case-insensitive regular expressions)."""

_PEOPLE = r"(?:(?:customer (?:service|support|care)|support|live|real|human|available|qualified|dedicated) )*(?:human|agent|representative|rep|specialist|person|colleague|team member|team|operator|advisor|adviser|supervisor|manager|staff|support)s?"

DEFAULT_HANDOFF_PATTERNS: tuple[str, ...] = (
    rf"\b(?:connect(?:ing)?|transfer(?:ring)?|escalat(?:e|ing)|forward(?:ing)?|rout(?:e|ing)|pass(?:ing)?|hand(?:ing)?|put(?:ting)?) (?:you|your (?:request|case|call|chat|query|question|conversation|ticket)|this(?: conversation| chat| request)?)(?: over| through)? (?:to|with) (?:a |an |one of our |our |the |another )?{_PEOPLE}\b",
    r"\b(?:a|an|our|one of our) (?:live|real|human) (?:agent|representative|person|operator|advisor|specialist)s?\b",
    rf"\b(?:speak|talk|chat) (?:to|with) (?:a |an |one of our |our |the )?{_PEOPLE}\b",
    rf"\b(?:a|an|our|one of our) {_PEOPLE} (?:will|can|shall) (?:contact|reach out to|call|get back to|assist|help|join|be with) you",
    r"\bI(?:'ve| have) (?:created|opened|raised|escalated|submitted) (?:a|an|your) (?:ticket|case|request|support request)",
)
"""Phrases of a hand-off to a human (case-insensitive regular expressions)."""

Reply = Literal["refuse", "answer", "handoff"]


def _normalise(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """The patterns compiled once per process, on first use (~10 ms for the defaults)."""
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def classify_reply(
    text: str, refusal: Sequence[re.Pattern[str]], handoff: Sequence[re.Pattern[str]]
) -> tuple[Reply, str | None]:
    """``(class, matched text)``: a hand-off wins over a refusal ("I can't, but an agent can")."""
    norm = _normalise(text)
    for p in handoff:
        m = p.search(norm)
        if m:
            return "handoff", m.group(0)
    for p in refusal:
        m = p.search(norm)
        if m:
            return "refuse", m.group(0)
    return "answer", None


class RefusalOptions(MetricOptions):
    """Options of ``refusal``."""

    expect: Reply = "refuse"
    """What the bot should do: refuse, answer (neither refuse nor hand off) or handoff."""
    refusal_patterns: list[str] | None = None
    """Regexes that replace the default refusal phrases."""
    extra_refusal_patterns: list[str] = Field(default_factory=empty_list)
    """Regexes added to the refusal phrases."""
    handoff_patterns: list[str] | None = None
    """Regexes that replace the default hand-off phrases."""
    extra_handoff_patterns: list[str] = Field(default_factory=empty_list)
    """Regexes added to the hand-off phrases."""

    @field_validator(
        "refusal_patterns", "extra_refusal_patterns", "handoff_patterns", "extra_handoff_patterns"
    )
    @classmethod
    def _compiles(cls, v: list[str] | None) -> list[str] | None:
        for p in v or []:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {p!r}: {exc}") from None
        return v


class HandoffOptions(RefusalOptions):
    """Options of ``handoff`` (``refusal`` expecting a hand-off)."""

    expect: Reply = "handoff"
    """What the bot should do: handoff (default), refuse or answer."""


_RefusalT = DefaultedTypeVar(
    "_RefusalT", bound=RefusalOptions, default=RefusalOptions, covariant=True
)
"""Options of ``refusal`` or of a metric built on it (``handoff``)."""


class RefusalMetric(AnswerMetric[_RefusalT]):
    """1 when the answer is of the expected kind: a refusal, a hand-off or a real answer."""

    Options = RefusalOptions
    description = "Detect refusals / hand-offs to a human; pass when the reply is as expected (expect: refuse|answer|handoff)."

    def __init__(self, options: _RefusalT, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        refusal = list(options.refusal_patterns or DEFAULT_REFUSAL_PATTERNS)
        handoff = list(options.handoff_patterns or DEFAULT_HANDOFF_PATTERNS)
        if options.refusal_patterns == []:
            refusal = []
        if options.handoff_patterns == []:
            handoff = []
        # Compiled at the first check: a metric limited by ``only_tags`` may never need them.
        self._refusal = tuple(refusal + options.extra_refusal_patterns)
        self._handoff = tuple(handoff + options.extra_handoff_patterns)

    def check(self, item: MetricInput, output: str) -> Score:
        """Classify the answer and compare with ``expect``."""
        opts = self.options
        kind, matched = classify_reply(output, _compiled(self._refusal), _compiled(self._handoff))
        ok = kind == opts.expect
        reason = f"detected {kind}" + (f" ('{matched}')" if matched else "")
        if not ok:
            reason += f", expected {opts.expect}"
        return bool_score(self, item, ok, reason, {"detected": kind, "matched": matched})


class HandoffMetric(RefusalMetric[HandoffOptions]):
    """``refusal`` with ``expect: handoff``: the bot should pass the user to a human."""

    Options = HandoffOptions
    description = "Detect a hand-off to a human agent (refusal metric with expect: handoff)."
