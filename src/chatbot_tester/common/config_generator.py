"""Configuration of document-grounded generation (``generator.documents``).

Documents are chunked by tokens, an LLM writes one sample per planned slot (question type,
chunks, persona drawn with ``seed``), every expected answer is checked against its chunks,
and near-duplicates are removed. These models only describe the step; the work is in
``chatbot_tester.generator.documents``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from chatbot_tester.common.config_base import BackendSpec, Bool, ConfigModel, Float, Int
from chatbot_tester.common.types import empty_list

__all__ = [
    "CANARY",
    "PERTURBATIONS",
    "QUESTION_TYPES",
    "STRATEGIES",
    "DocumentsConfig",
    "Persona",
    "Perturbation",
    "PerturbationsConfig",
    "QuestionType",
    "Strategy",
]

QuestionType = Literal[
    "factual", "multi_hop", "comparison", "conditional", "unanswerable", "conversational"
]
QUESTION_TYPES: tuple[QuestionType, ...] = (
    "factual",
    "multi_hop",
    "comparison",
    "conditional",
    "unanswerable",
    "conversational",
)
"""Every question type, in the order slots are planned."""

_DEFAULT_MIX: dict[QuestionType, float] = {
    "factual": 0.4,
    "multi_hop": 0.15,
    "comparison": 0.1,
    "conditional": 0.1,
    "unanswerable": 0.15,
    "conversational": 0.1,
}


class Persona(ConfigModel):
    """Who asks: mixed into the question-writing prompt and recorded in ``metadata.origin``."""

    role: str = Field(min_length=1)
    """Who the user is (``new customer``, ``nurse``, ``store manager``)."""
    expertise: str = "intermediate"
    """How much they know (``novice``, ``intermediate``, ``expert``)."""
    tone: str = "neutral"
    """How they write (``terse``, ``polite``, ``frustrated``)."""
    language: str = "English"
    """The language the question is written in."""


class DocumentsConfig(BackendSpec):
    """Write grounded test samples from documents (chunked, checked, de-duplicated)."""

    files: list[str] = Field(min_length=1)
    """Files or glob patterns (``docs/**/*.md``) of .txt, .md, .html, .pdf or .jsonl documents, relative to the YAML file."""
    count: Int = Field(default=20, ge=1, le=100_000)
    """Samples to write (before ungrounded and duplicate ones are dropped)."""
    mix: dict[QuestionType, Float] = Field(default_factory=lambda: dict(_DEFAULT_MIX))
    """Relative weight of each question type: factual, multi_hop, comparison, conditional, unanswerable, conversational."""
    instructions: str = ""
    """Extra guidance for the question writer (domain, audience, style)."""
    linking: Literal["random", "terms"] = "random"
    """How multi_hop and comparison slots pick their chunks: at ``random``, or chunks that share the most rare ``terms`` (a light entity graph)."""
    personas: list[Persona] = Field(default_factory=empty_list)
    """Users who ask the questions; each slot draws one with ``seed``."""
    seed: Int = 0
    """Seed of every draw (types, chunks, personas) and passed to the model; same seed + same documents + cached replies = same dataset."""
    chunk_tokens: Int = Field(default=200, ge=16, le=20_000)
    """Chunk size in tokens (whitespace-separated words, so chunk ids do not depend on installed tokenizers)."""
    chunk_overlap: Int = Field(default=40, ge=0)
    """Tokens shared by consecutive chunks (less than ``chunk_tokens``)."""
    jsonl_field: str = "text"
    """For .jsonl documents: the field holding each line's text (one document per line)."""
    grounding: Literal["overlap", "judge"] = "overlap"
    """How each expected answer is checked against its chunks: token ``overlap`` or an LLM ``judge`` verdict."""
    grounding_threshold: Float = Field(default=0.6, ge=0, le=1)
    """``overlap``: share of the answer's content words that must appear in its chunks."""
    grounding_judge: BackendSpec | None = None
    """``judge``: the backend that gives the verdict (default: this step's backend)."""
    dedupe_threshold: Float = Field(default=90.0, ge=0, le=100)
    """Near-duplicate cut-off: rapidfuzz ratio (0-100) of two normalised questions; 100 drops exact repeats only."""
    unanswerable_expect: Literal["refuse", "handoff"] = "refuse"
    """What the bot should do with an unanswerable question (a ``refusal`` assertion is added)."""
    unanswerable_answer: str = "I'm unable to answer that from the information I have."
    """``expected`` of an unanswerable sample."""
    follow_up_turns: Int = Field(default=2, ge=2, le=6)
    """Turns of a conversational sample (a question and its follow-ups)."""
    max_attempts: Int = Field(default=3, ge=1, le=20)
    """Calls per sample before an invalid reply is reported as failed."""
    timeout_s: Float = Field(default=180.0, gt=0)
    """Hard wall-clock limit per generation call."""
    retries: Int = Field(default=3, ge=0, le=20)
    """Retries per call after a timeout, rate limit or server error."""
    concurrency: Int = Field(default=4, ge=1, le=256)
    """Generation calls in flight at once."""

    @field_validator("mix")
    @classmethod
    def _weights(cls, mix: dict[QuestionType, float]) -> dict[QuestionType, float]:
        if any(w < 0 for w in mix.values()):
            raise ValueError("weights must be zero or more")
        if not any(w > 0 for w in mix.values()):
            raise ValueError("give at least one question type a weight above 0")
        return mix

    @model_validator(mode="after")
    def _overlap_below_size(self) -> DocumentsConfig:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be less than chunk_tokens "
                f"({self.chunk_tokens})"
            )
        return self


Perturbation = Literal[
    "typos", "casing", "punctuation", "whitespace", "filler", "word_order", "confusables",
    "truncation",
]  # fmt: skip
PERTURBATIONS: tuple[Perturbation, ...] = (
    "typos",
    "casing",
    "punctuation",
    "whitespace",
    "filler",
    "word_order",
    "confusables",
    "truncation",
)
"""Every offline perturbation, in the order variants are written."""


class PerturbationsConfig(ConfigModel):
    """Offline, deterministic variants of every sample's user text (robustness tests)."""

    kinds: list[Perturbation] = Field(default_factory=lambda: list(PERTURBATIONS), min_length=1)
    """Which perturbations: typos, casing, punctuation, whitespace, filler, word_order, confusables, truncation."""
    rate: Float = Field(default=0.15, gt=0, le=1)
    """Share of the words touched by typos, filler, confusables and word order (at least one)."""
    seed: Int = 0
    """Seed of every draw; the same seed gives the same variants."""
    only_tags: list[str] = Field(default_factory=empty_list)
    """Perturb only samples with one of these tags (default: every sample)."""
    keep_original: Bool = True
    """Keep the parent samples (tagged ``perturbation:none``) next to their variants."""
    paraphrase: BackendSpec | None = None
    """Also add an LLM paraphrase of every sample (``perturbation:paraphrase``), written by this backend (cached)."""

    @field_validator("kinds")
    @classmethod
    def _unique(cls, kinds: list[Perturbation]) -> list[Perturbation]:
        if len(set(kinds)) != len(kinds):
            raise ValueError("each perturbation may be listed once")
        return kinds


Strategy = Literal["base64", "leetspeak", "roleplay", "crescendo", "crescendo_sim"]
STRATEGIES: tuple[Strategy, ...] = ("base64", "leetspeak", "roleplay", "crescendo", "crescendo_sim")
"""Every red-team strategy: transformations of an attack that try to slip past defences."""

CANARY = "CT-CANARY-9F4E2A"
"""The secret planted in the system messages of the ``system-prompt-extraction`` pack."""
