r"""Split documents into overlapping token windows with stable ids.

A token is a run of non-space characters (``\S+``). That is cruder than a model's tokenizer
but does not depend on which extras are installed, so the same document always gives the
same chunks and the same ids on every machine. A chunk keeps the character offsets of its
first and last token in the document, and its id is a hash of the source, the offsets and
the text: editing one paragraph changes the ids of the chunks that hold it, not the others'.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from chatbot_tester.generator.doc_readers import Document

__all__ = ["Chunk", "chunk_document", "chunk_documents", "content_words"]

_TOKEN = re.compile(r"\S+")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "we",
        "you",
        "your",
        "our",
        "i",
        "me",
        "my",
        "do",
        "does",
        "did",
        "done",
        "not",
        "no",
        "so",
        "than",
        "too",
        "very",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "has",
        "have",
        "had",
        "which",
        "who",
        "whom",
        "what",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "each",
        "also",
        "into",
        "about",
    ]
)


@dataclass(frozen=True)
class Chunk:
    """A window of a document: ``text`` is ``document.text[start:end]``."""

    id: str
    """``ch-`` + 12 hex digits of sha256(source, start, end, text)."""
    source: str
    """The document's ``source``."""
    start: int
    """Character offset of the first token in the document."""
    end: int
    """Character offset just after the last token."""
    text: str


def chunk_id(source: str, start: int, end: int, text: str) -> str:
    """The stable id of a chunk."""
    digest = hashlib.sha256(f"{source}\x00{start}\x00{end}\x00{text}".encode()).hexdigest()
    return "ch-" + digest[:12]


def chunk_document(document: Document, size: int, overlap: int) -> list[Chunk]:
    """``document`` as windows of ``size`` tokens, consecutive ones sharing ``overlap`` tokens."""
    spans = [m.span() for m in _TOKEN.finditer(document.text)]
    step = max(1, size - overlap)
    chunks: list[Chunk] = []
    for first in range(0, len(spans), step):
        last = min(first + size, len(spans)) - 1
        start, end = spans[first][0], spans[last][1]
        text = document.text[start:end]
        chunks.append(
            Chunk(chunk_id(document.source, start, end, text), document.source, start, end, text)
        )
        if last == len(spans) - 1:
            break
    return chunks


def chunk_documents(documents: list[Document], size: int, overlap: int) -> list[Chunk]:
    """Every document's chunks, in document order."""
    return [c for d in documents for c in chunk_document(d, size, overlap)]


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` without common stop words (the grounding overlap unit)."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]
