"""Is a generated answer supported by its chunks? Token overlap, or an LLM judge's verdict.

``overlap``: the share of the answer's content words (lower-cased, stop words removed) that
occur in the chunks; below ``grounding_threshold`` the sample is ungrounded. An answer with
no content word at all cannot be checked and counts as ungrounded. ``judge``: a backend is
asked for ``{"grounded": true|false, "reason": ...}`` (for an unanswerable question: whether
the passages answer it, which would make it answerable). Both return a ``Verdict``; the
caller drops what is not grounded and reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot_tester.common.schemas import ChatRequest, Message
from chatbot_tester.generator.chunking import Chunk, content_words
from chatbot_tester.generator.gen_budget import Caller
from chatbot_tester.generator.synthetic import extract_json

__all__ = ["JUDGE_SYSTEM_PROMPT", "Verdict", "judge_verdict", "overlap_score", "overlap_verdict"]

JUDGE_SYSTEM_PROMPT = (
    "You check generated test cases against source passages. Reply with one JSON object and "
    'nothing else: {"grounded": true or false, "reason": "<one sentence>"}.'
)
"""System message of every grounding-judge request."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one grounding check (``score`` is the overlap, or 1/0 for a judge)."""

    grounded: bool
    score: float | None
    reason: str
    failed: bool = False
    """The check itself could not be made (the judge call failed or its reply was invalid)."""


def overlap_score(answer: str, chunks: tuple[Chunk, ...]) -> float:
    """Share of the answer's distinct content words found in the chunks (0 without any)."""
    words = set(content_words(answer))
    if not words:
        return 0.0
    source = {w for c in chunks for w in content_words(c.text)}
    return len(words & source) / len(words)


def overlap_verdict(answers: list[str], chunks: tuple[Chunk, ...], threshold: float) -> Verdict:
    """The weakest answer's overlap against ``threshold`` (every turn must be grounded)."""
    score = min(overlap_score(a, chunks) for a in answers)
    if score >= threshold:
        return Verdict(True, round(score, 4), f"overlap {score:.2f} >= {threshold:.2f}")
    return Verdict(
        False,
        round(score, 4),
        f"overlap {score:.2f} < {threshold:.2f}: the answer is not in the chunks",
    )


def _judge_request(
    question: str, answer: str | None, chunks: tuple[Chunk, ...], model: str | None
) -> ChatRequest:
    parts = [f"Passage {n}:\n{c.text}" for n, c in enumerate(chunks, start=1)]
    if answer is None:
        parts += [
            f"Question: {question}",
            "Is this question left unanswered by the passages? grounded=true when the passages "
            "do NOT answer it, false when they do.",
        ]
    else:
        parts += [
            f"Question: {question}",
            f"Answer: {answer}",
            "Is every claim of the answer supported by the passages? grounded=true only then.",
        ]
    return ChatRequest(
        messages=[
            Message(role="system", content=JUDGE_SYSTEM_PROMPT),
            Message(role="user", content="\n\n".join(parts)),
        ],
        model=model,
        params={"temperature": 0},
        sample_id="documents-grounding",
    )


async def judge_verdict(
    client: Caller,
    turns: tuple[tuple[str, str | None], ...],
    chunks: tuple[Chunk, ...],
    model: str | None,
) -> Verdict:
    """The judge's verdict over every turn (the first ungrounded one decides)."""
    for question, answer in turns:
        request = _judge_request(question, answer, chunks, model)
        outcome = await client.call(request, request.sample_id or "", salt="grounding")
        if outcome.response is None:
            message = outcome.error.message if outcome.error is not None else "no response"
            return Verdict(False, None, f"grounding judge call failed: {message}", True)
        try:
            data = extract_json(outcome.response.text)
        except ValueError:
            data = None
        grounded = data.get("grounded") if isinstance(data, dict) else None
        if not isinstance(grounded, bool):
            return Verdict(False, None, 'grounding judge reply lacks "grounded": true|false', True)
        reason = str(data.get("reason") or "") if isinstance(data, dict) else ""
        if not grounded:
            what = "the passages answer it" if answer is None else "not supported"
            return Verdict(False, 0.0, f"judge: {what}; {reason}".strip("; "))
    return Verdict(True, 1.0, "judge: supported")
