"""Strict parsing of judge verdicts and aggregation of repeated votes.

A judge reply must be one JSON object (optionally in a Markdown code fence, surrounded by
whitespace) matching a strict schema. Anything else (prose, a missing field, a score
outside the scale, a string where a number belongs) makes the vote an *error*; an error is
never turned into a score of 0.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot_tester.common.redact import mask_secrets

__all__ = [
    "JudgeVerdict",
    "PairwiseVerdict",
    "Tally",
    "Vote",
    "parse_json_reply",
    "parse_pairwise",
    "parse_verdict",
    "tally_votes",
]

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*)\n[ \t]*```$", re.DOTALL)

M = TypeVar("M", bound=BaseModel)


class JudgeVerdict(BaseModel):
    """A judge's answer: a number on the configured scale and a short reason."""

    model_config = ConfigDict(extra="forbid", strict=True)

    score: float = Field(allow_inf_nan=False)
    """The grade, on the metric's scale."""
    reason: str
    """Why, in a sentence or two."""


class PairwiseVerdict(BaseModel):
    """A pairwise judge's answer: which of A and B is better (or a tie) and why."""

    model_config = ConfigDict(extra="forbid", strict=True)

    winner: Literal["A", "B", "tie"]
    """The better answer's position, or ``tie``."""
    reason: str
    """Why, in a sentence or two."""


def _preview(text: str, limit: int = 80) -> str:
    flat = " ".join(mask_secrets(text).split())  # masked before the cut: no secret prefix
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_json_reply(text: str, model: type[M]) -> M:
    """Validate a reply against ``model``; ValueError with a one-line reason otherwise.

    Tolerates surrounding whitespace and one Markdown code fence, nothing more.
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced is not None:
        body = fenced.group("body").strip()
    if not body:
        raise ValueError("the judge replied with nothing")
    try:
        verdict = model.model_validate_json(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            raise ValueError(
                f"the judge's reply is not a JSON object: {_preview(text)!r}"
            ) from None
        loc = ".".join(str(p) for p in err["loc"]) or "reply"
        raise ValueError(
            f"the judge's verdict is invalid at '{loc}': {err['msg']} (reply: {_preview(text)!r})"
        ) from None
    repeated = _repeated_key(body)
    if (
        repeated is not None
    ):  # JSON parsers keep the last value; which one the judge meant is unknown
        raise ValueError(f"the judge's verdict repeats the key '{repeated}'; give each key once")
    return verdict


def _repeated_key(body: str) -> str | None:
    """The first key repeated within one object of the JSON ``body`` (a valid reply), or None."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if not found and len(set(keys)) != len(keys):
            found.append(next(k for i, k in enumerate(keys) if k in keys[:i]))
        return dict(items)

    json.loads(body, object_pairs_hook=pairs)
    return found[0] if found else None


def parse_verdict(text: str, scale: tuple[float, float]) -> JudgeVerdict:
    """Parse a score verdict and check the score is on the scale (ValueError otherwise)."""
    verdict = parse_json_reply(text, JudgeVerdict)
    low, high = scale
    if not low <= verdict.score <= high:
        raise ValueError(
            f"the judge's score {verdict.score:g} is outside the scale {low:g}..{high:g}"
        )
    return verdict


def parse_pairwise(text: str) -> PairwiseVerdict:
    """Parse a pairwise verdict (ValueError with the reason otherwise)."""
    return parse_json_reply(text, PairwiseVerdict)


@dataclass(frozen=True)
class Vote:
    """One judge call's outcome: a score and reason, or an error."""

    score: float | None
    reason: str | None
    error: str | None = None
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``Score.details['votes']``."""
        data = asdict(self)
        data.pop("cached")
        return data


@dataclass(frozen=True)
class Tally:
    """Votes combined into one verdict."""

    value: float | None
    """Normalised 0..1 value, ``None`` when every vote failed."""
    raw: float | None
    """The combined score on the judge's scale."""
    passed: bool | None
    reason: str | None
    agreement: float | None
    """Share of valid votes whose pass/fail matches the verdict."""
    unstable: bool
    """True when valid votes disagree on pass/fail."""
    errors: int
    error: str | None
    """Set when no vote produced a score (the first vote error)."""


def tally_votes(
    votes: Sequence[Vote],
    scale: tuple[float, float],
    pass_at: float,
    aggregate: Literal["majority", "mean"],
) -> Tally:
    """Combine votes: ``mean`` averages scores; ``majority`` takes the median vote.

    With an odd number of valid votes the median's pass/fail is the majority's. ``pass_at``
    is on the scale. Errored votes are left out; when all error, the tally carries the error.
    """
    valid = [v for v in votes if v.score is not None]
    errors = len(votes) - len(valid)
    if not valid:
        first = next((v.error for v in votes if v.error), "no votes")
        return Tally(None, None, None, None, None, False, errors, first)
    scores = [float(v.score) for v in valid if v.score is not None]
    raw = statistics.fmean(scores) if aggregate == "mean" else float(statistics.median(scores))
    low, high = scale
    value = (raw - low) / (high - low)
    passed = raw >= pass_at - 1e-9
    agreeing = [v for v in valid if v.score is not None and (v.score >= pass_at - 1e-9) == passed]
    agreement = len(agreeing) / len(valid)
    reason_vote = min(agreeing, key=lambda v: abs(float(v.score or 0.0) - raw), default=valid[0])
    return Tally(
        value=min(1.0, max(0.0, value)) if math.isfinite(value) else None,
        raw=raw,
        passed=passed,
        reason=reason_vote.reason,
        agreement=agreement,
        unstable=agreement < 1.0,
        errors=errors,
        error=None,
    )
