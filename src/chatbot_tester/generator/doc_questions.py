"""Plan the question slots of a document generation, write their prompts, parse the replies.

``plan_slots`` is a pure function of the config and the chunks: the exact count of each
question type (largest remainder of the ``mix``), their order, the chunks and the persona of
every slot are drawn from ``seed``, so the same seed and documents always ask the same
requests (and, with the response cache, get the same replies).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from chatbot_tester.common.config_generator import (
    QUESTION_TYPES,
    DocumentsConfig,
    Persona,
    QuestionType,
)
from chatbot_tester.common.schemas import ChatRequest
from chatbot_tester.generator.chunking import Chunk, content_words
from chatbot_tester.generator.synthetic import extract_json, writer_request

__all__ = [
    "SYSTEM_PROMPT",
    "Draft",
    "Slot",
    "allocate",
    "parse_reply",
    "plan_slots",
    "slot_request",
]

SYSTEM_PROMPT = (
    "You write test questions for a chatbot from source passages. Use only what the passages "
    "say. Reply with one JSON object and nothing else."
)
"""System message of every question-writing request."""

_CHUNKS: dict[QuestionType, tuple[int, ...]] = {
    "factual": (1,),
    "multi_hop": (2, 3),
    "comparison": (2,),
    "conditional": (1,),
    "unanswerable": (1,),
    "conversational": (1,),
}

_TASKS: dict[QuestionType, str] = {
    "factual": "Write one question that the passage answers directly, and its answer.",
    "multi_hop": (
        "Write one question whose answer needs facts from every passage together (no single "
        "passage answers it), and its answer."
    ),
    "comparison": (
        "Write one question that compares or contrasts what the two passages describe, and "
        "its answer."
    ),
    "conditional": (
        'Write one question that states a condition or scenario ("If I ..., can/what ...?") '
        "which the passage answers, and its answer."
    ),
    "unanswerable": (
        "Write one question on the same topic that the passage does NOT answer: a plausible "
        "detail it never states. Do not answer it."
    ),
    "conversational": (
        "Write a conversation of {turns} user turns: a first question the passage answers, then "
        'follow-ups that build on the previous answers ("and what about ...?", "does that '
        '...?"). Give the answer of every turn.'
    ),
}

_SHAPES: dict[QuestionType, str] = {
    "unanswerable": '{"question": "<the question>"}',
    "conversational": '{"turns": [{"question": "<user turn>", "answer": "<answer>"}, ...]}',
}
_DEFAULT_SHAPE = '{"question": "<the question>", "answer": "<the answer, from the passages>"}'


@dataclass(frozen=True)
class Slot:
    """One sample to write: its question type, chunks and persona (all drawn from the seed)."""

    index: int
    qtype: QuestionType
    chunks: tuple[Chunk, ...]
    persona: Persona | None = None
    variant: int = 1
    """How many slots so far (this one included) have this type and these chunks: the prompt
    says so, so two of them are different requests (not one cached reply twice)."""


@dataclass(frozen=True)
class Draft:
    """A parsed reply: ``turns`` holds (question, answer) pairs; one pair for a single question."""

    turns: tuple[tuple[str, str | None], ...]


def allocate(mix: dict[QuestionType, float], count: int) -> dict[QuestionType, int]:
    """Exact counts per type summing to ``count`` (largest remainder, ties in type order)."""
    total = sum(mix.values())
    quotas = {t: mix.get(t, 0.0) * count / total for t in QUESTION_TYPES}
    counts = {t: int(q) for t, q in quotas.items()}
    left = count - sum(counts.values())
    weighted = [t for t in QUESTION_TYPES if mix.get(t, 0.0) > 0]
    weighted.sort(key=lambda t: (-(quotas[t] - counts[t]), QUESTION_TYPES.index(t)))
    for t in weighted[:left]:
        counts[t] += 1
    return {t: n for t, n in counts.items() if n}


def plan_slots(config: DocumentsConfig, chunks: list[Chunk]) -> list[Slot]:
    """The ``config.count`` slots, in a seeded order; multi-chunk types need 2+ chunks.

    With a single chunk, multi-hop and comparison slots become factual ones (nothing to
    combine). Single-chunk slots walk a seeded permutation of the chunks, so small sets are
    covered evenly; multi-chunk slots draw distinct chunks.
    """
    rng = random.Random(f"documents:{config.seed}")
    types = [t for t, n in allocate(config.mix, config.count).items() for _ in range(n)]
    rng.shuffle(types)
    order = list(chunks)
    rng.shuffle(order)
    slots: list[Slot] = []
    terms = _rare_terms(chunks) if config.linking == "terms" else []
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    single = 0
    for index, qtype in enumerate(types):
        draw = random.Random(f"documents:{config.seed}:{index}")
        want = draw.choice(_CHUNKS[qtype])
        if want > 1 and len(chunks) < 2:
            qtype, want = "factual", 1
        if want == 1:
            picked: tuple[Chunk, ...] = (order[single % len(order)],)
            single += 1
        elif config.linking == "terms":
            picked = _linked(chunks, draw.randrange(len(chunks)), want, terms)
        else:
            picked = tuple(sorted(draw.sample(chunks, min(want, len(chunks))), key=chunks.index))
        persona = draw.choice(config.personas) if config.personas else None
        key = (qtype, tuple(c.id for c in picked))
        seen[key] = seen.get(key, 0) + 1
        slots.append(Slot(index, qtype, picked, persona, seen[key]))
    return slots


def _rare_terms(chunks: list[Chunk]) -> list[set[str]]:
    """Each chunk's content words that occur in at most a quarter of the chunks (at least 2)."""
    words = [set(content_words(c.text)) for c in chunks]
    counts = Counter(w for ws in words for w in ws)
    limit = max(2, len(chunks) // 4)
    return [{w for w in ws if counts[w] <= limit} for ws in words]


def _linked(chunks: list[Chunk], first: int, want: int, terms: list[set[str]]) -> tuple[Chunk, ...]:
    """``chunks[first]`` and the ``want - 1`` chunks sharing most rare terms with it.

    A light entity graph: passages about the same thing are linked; document order, ties by
    position.
    """
    ranked = sorted(
        (i for i in range(len(chunks)) if i != first),
        key=lambda i: (-len(terms[first] & terms[i]), i),
    )
    picked = [first, *ranked[: want - 1]]
    return tuple(chunks[i] for i in sorted(picked))


def _persona_line(persona: Persona) -> str:
    return (
        f"Write as this user would ask: a {persona.role} ({persona.expertise} expertise, "
        f"{persona.tone} tone), in {persona.language}."
    )


def slot_request(
    config: DocumentsConfig, slot: Slot, attempt: int, problems: list[str]
) -> ChatRequest:
    """The question-writing request of ``slot`` (an attempt after the first lists the problems)."""
    parts = [f"Question type: {slot.qtype}."]
    if config.instructions.strip():
        parts += ["", config.instructions.strip()]
    for number, chunk in enumerate(slot.chunks, start=1):
        parts += ["", f"Passage {number} ({chunk.source}):", chunk.text]
    parts += ["", _TASKS[slot.qtype].format(turns=config.follow_up_turns)]
    if slot.variant > 1:
        parts.append(
            f"This is question {slot.variant} on these passages: ask about a different detail "
            "than the obvious first question."
        )
    if slot.persona is not None:
        parts.append(_persona_line(slot.persona))
    parts.append(f"Reply shaped {_SHAPES.get(slot.qtype, _DEFAULT_SHAPE)}")
    return writer_request(
        SYSTEM_PROMPT, parts, config, attempt, problems, f"documents-slot-{slot.index + 1}"
    )


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_reply(text: str, slot: Slot, turns: int) -> Draft | str:
    """The draft in a reply, or what is wrong with it (one phrase, sent back on a retry)."""
    try:
        data = extract_json(text)
    except ValueError:
        return "the reply is not JSON"
    if not isinstance(data, dict):
        return "the reply is not a JSON object"
    if slot.qtype == "conversational":
        items = data.get("turns")
        if not isinstance(items, list) or len(items) < 2:
            return f'expected "turns": a list of {turns} objects with "question" and "answer"'
        pairs: list[tuple[str, str | None]] = []
        for number, item in enumerate(items[:turns], start=1):
            q = _text(item.get("question") or item.get("user")) if isinstance(item, dict) else None
            a = _text(item.get("answer")) if isinstance(item, dict) else None
            if q is None or a is None:
                return f'turn {number}: needs a non-empty "question" and "answer"'
            pairs.append((q, a))
        return Draft(tuple(pairs))
    question = _text(data.get("question") or data.get("input"))
    if question is None:
        return 'field "question": missing or empty'
    if slot.qtype == "unanswerable":
        return Draft(((question, None),))
    answer = _text(data.get("answer") or data.get("expected"))
    if answer is None:
        return 'field "answer": missing or empty'
    return Draft(((question, answer),))
