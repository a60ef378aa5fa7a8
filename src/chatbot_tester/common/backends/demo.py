"""The ``demo`` backend: an offline customer-support bot answering from a YAML knowledge base.

It is what the quickstart tests: a small retrieval bot (fuzzy matching with rapidfuzz over
the knowledge base's questions and keywords) that answers verbatim from the best entry, and
hands off to a human below a score threshold. It is deterministic, needs no network or
model, and — like real bots — gets some paraphrases and off-topic questions wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chatbot_tester.common.backends.base import BackendOptions, ChatBackend
from chatbot_tester.common.backends.scripted import last_user_message, word_usage
from chatbot_tester.common.schemas import ChatRequest, ChatResponse
from chatbot_tester.common.types import empty_list
from chatbot_tester.errors import ConfigError

__all__ = [
    "DEFAULT_HANDOFF",
    "STOP_WORDS",
    "DemoBackend",
    "DemoOptions",
    "KnowledgeEntry",
    "load_knowledge_base",
    "normalize",
]

DEFAULT_HANDOFF = "I'm sorry, I can't help with that here. Let me connect you with a human agent."
"""What the demo bot says when nothing in its knowledge base fits the question."""


class KnowledgeEntry(BaseModel):
    """One knowledge-base entry: the questions it answers, the answer, optional keywords."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = None
    """A question this entry answers."""
    questions: list[str] = Field(default_factory=empty_list)
    """More phrasings of the question."""
    answer: str
    """The answer, given verbatim."""
    keywords: list[str] = Field(default_factory=empty_list)
    """Words that point to this entry; each one found in the message adds ``keyword_bonus``."""

    @model_validator(mode="after")
    def _has_question(self) -> KnowledgeEntry:
        if self.question is None and not self.questions:
            raise ValueError("an entry needs 'question' or 'questions'")
        return self

    def all_questions(self) -> list[str]:
        """Every phrasing of the entry's question."""
        return ([self.question] if self.question else []) + self.questions


class DemoOptions(BackendOptions):
    """Options of the ``demo`` backend."""

    knowledge_base: Path
    """YAML list of entries {question or questions, answer, keywords} (relative to the pipeline file)."""
    min_score: float = Field(default=60.0, ge=0, le=100)
    """Retrieval score (0-100) below which the bot hands off to a human."""
    keyword_bonus: float = Field(default=20.0, ge=0)
    """Points added per knowledge-base keyword found in the message (score capped at 100)."""
    handoff_reply: str = DEFAULT_HANDOFF
    """The reply when no entry scores ``min_score``."""
    latency_ms: float = Field(default=0.0, ge=0)
    """Simulated thinking time per answer."""


def load_knowledge_base(path: Path) -> list[KnowledgeEntry]:
    """Read and validate a knowledge-base YAML file (a list, or ``{entries: [...]}``)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(
            f"demo.knowledge_base: cannot read {path}: {exc.strerror}", file=path
        ) from None
    try:
        # libyaml's parser when PyYAML has it: the same data, ~15x less CPU than pure Python.
        data: Any = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc}", file=path, line=line) from None
    if isinstance(data, dict) and "entries" in data:
        data = data["entries"]
    if not isinstance(data, list) or not data:
        raise ConfigError("a knowledge base is a non-empty list of entries", file=path)
    entries: list[KnowledgeEntry] = []
    for index, item in enumerate(data):
        try:
            entries.append(KnowledgeEntry.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            field = f" field '{where}'" if where else ""
            raise ConfigError(f"entry {index + 1}{field}: {err['msg']}", file=path) from None
    return entries


# fmt: off
STOP_WORDS = frozenset({
    "a", "an", "the", "i", "im", "my", "me", "we", "you", "your", "our", "is", "are", "was",
    "were", "be", "do", "does", "did", "can", "could", "will", "would", "should", "to", "of",
    "in", "on", "for", "at", "with", "and", "or", "it", "its", "this", "that", "there", "how",
    "what", "when", "where", "why", "which", "who", "from", "about", "any", "have", "has", "had",
    "am", "if", "so", "just", "still",
})
# fmt: on
"""Words ignored by retrieval: they appear in every question and match nothing in particular."""


def normalize(text: str) -> str:
    """Lower-case words without punctuation or stop words (what retrieval compares)."""
    from rapidfuzz import utils

    return " ".join(w for w in utils.default_process(text).split() if w not in STOP_WORDS)


def _word_forms(text: str) -> set[str]:
    words = set(text.split())
    return words | {w[:-1] for w in words if len(w) > 3 and w.endswith("s")}


@dataclass(frozen=True)
class _Choice:
    entry: int
    text: str


class DemoBackend(ChatBackend[DemoOptions]):
    """Answers from a knowledge base by fuzzy retrieval; hands off below ``min_score``."""

    Options = DemoOptions
    description = "offline demo support bot: fuzzy retrieval over a YAML knowledge base"

    def __init__(self, options: DemoOptions) -> None:
        super().__init__(options)
        self._opts = options
        self._entries = load_knowledge_base(options.knowledge_base)
        self._choices = [
            _Choice(index, normalize(question))
            for index, entry in enumerate(self._entries)
            for question in entry.all_questions()
        ]
        self._keywords = [[normalize(k) or k.lower() for k in e.keywords] for e in self._entries]

    def retrieve(self, message: str) -> tuple[KnowledgeEntry | None, float]:
        """The best entry for ``message`` and its score (ties go to the earlier entry).

        The score is the best rapidfuzz ``WRatio`` between the message and the entry's
        questions (stop words removed), plus ``keyword_bonus`` per keyword in the message.
        """
        from rapidfuzz import fuzz

        query = normalize(message)
        if not query:
            return None, 0.0
        words = _word_forms(query)
        best: dict[int, float] = {}
        for choice in self._choices:
            score = fuzz.WRatio(query, choice.text)
            if score > best.get(choice.entry, -1.0):
                best[choice.entry] = score
        top_entry, top_score = -1, -1.0
        for index, score in best.items():
            hits = sum(
                1 for kw in self._keywords[index] if (kw in words if " " not in kw else kw in query)
            )
            total = min(100.0, score + hits * self._opts.keyword_bonus)
            if total > top_score:
                top_entry, top_score = index, total
        if top_entry < 0:
            return None, 0.0
        return self._entries[top_entry], top_score

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Answer the last user message from the knowledge base, or hand off."""
        if self._opts.latency_ms:
            await anyio.sleep(self._opts.latency_ms / 1000.0)
        entry, score = self.retrieve(last_user_message(request))
        text = entry.answer if entry is not None and score >= self._opts.min_score else None
        reply = text if text is not None else self._opts.handoff_reply
        return ChatResponse(
            text=reply,
            finish_reason="stop",
            usage=word_usage(request, reply),
            model=request.model or "demo",
            session_id=request.session_id,
        )
