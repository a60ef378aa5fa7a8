"""Read the documents of ``generator.documents``: expand globs, extract plain text.

.txt and .md are read as UTF-8; .html keeps the visible text (script, style, template and
noscript contents dropped, block elements become line breaks) through the standard
library's ``HTMLParser``; .pdf goes through ``pypdf`` (the ``pdf`` extra); each line of a
.jsonl file is one document (its ``jsonl_field``). A missing file, a glob matching nothing,
an unreadable or empty document is one ``DatasetError`` naming the file and the fix.
"""

from __future__ import annotations

import glob
import io
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import orjson

from chatbot_tester.errors import ConfigError, DatasetError
from chatbot_tester.generator.input_checks import decode_text, display_path, read_bytes

__all__ = ["SUFFIXES", "Document", "expand_files", "html_text", "read_documents", "source_name"]

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl")
"""Document formats read by ``read_documents``."""

_GLOB = frozenset("*?[")
_HIDDEN = frozenset({"script", "style", "template", "noscript"})
_BLOCKS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header",
        "footer", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "dd", "dt", "hr",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Document:
    """One document's text and where it came from (``source`` is stable across machines)."""

    source: str
    """Path relative to the pipeline's folder (POSIX), plus ``#L<n>`` for a .jsonl line."""
    text: str


def expand_files(patterns: list[str], base_dir: Path) -> list[Path]:
    """Every file named or matched by ``patterns`` (relative to ``base_dir``), sorted, once each.

    A plain path must exist (a folder stands for every document below it); a glob or a folder
    must match at least one document, so a typo is never an empty set of questions.
    """
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern) if Path(pattern).is_absolute() else base_dir / pattern
        if not _GLOB & set(pattern):
            if not path.exists():
                raise ConfigError(
                    f"generator.documents.files: {pattern}: file not found; "
                    "fix the path (relative to the pipeline file)"
                )
            if not path.is_dir():
                found.append(path)
                continue
            path = path / "**" / "*"  # a folder: every document below it
        matches = sorted(
            Path(m)
            for m in glob.glob(str(path), recursive=True)
            if Path(m).is_file() and Path(m).suffix.lower() in SUFFIXES
        )
        if not matches:
            raise ConfigError(
                f"generator.documents.files: {pattern}: the pattern matches no document "
                f"({', '.join(SUFFIXES)}); fix the pattern"
            )
        found.extend(matches)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)


def source_name(path: Path, base_dir: Path) -> str:
    """``path`` relative to ``base_dir`` (POSIX) when below it: the same on every machine."""
    try:
        return path.relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """The visible text of an HTML page: one line per block, runs of spaces folded."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _pdf_text(path: Path, data: bytes) -> str:
    try:
        import pypdf
    except ImportError:
        raise ConfigError(
            "reading PDF documents needs pypdf: pip install 'chatbot-tester[pdf]'",
            file=display_path(path),
        ) from None
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DatasetError(
                "the PDF is encrypted; save a decrypted copy", file=display_path(path)
            )
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except DatasetError:
        raise
    except Exception as exc:  # pypdf raises many types for a damaged file
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise DatasetError(
            f"cannot read the PDF ({detail}); re-export it or remove it from generator.documents",
            file=display_path(path),
        ) from None


def _jsonl_documents(path: Path, data: bytes, source: str, field: str) -> Iterator[Document]:
    for number, raw in enumerate(decode_text(path, data).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise DatasetError(
                "not a JSON object; write one JSON object per line",
                file=display_path(path),
                line=number,
            ) from None
        text = item.get(field) if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise DatasetError(
                f"no text field '{field}'; add it or set generator.documents.jsonl_field",
                file=display_path(path),
                line=number,
            )
        if text.strip():
            yield Document(f"{source}#L{number}", text)


def _read_one(path: Path, base_dir: Path, field: str) -> list[Document]:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DatasetError(
            f"unsupported document type '{suffix or path.name}'; use one of {', '.join(SUFFIXES)}",
            file=display_path(path),
        )
    data = read_bytes(path)
    source = source_name(path, base_dir)
    if suffix == ".jsonl":
        docs = list(_jsonl_documents(path, data, source, field))
    elif suffix == ".pdf":
        docs = [Document(source, _pdf_text(path, data))]
    else:
        text = decode_text(path, data)
        docs = [Document(source, html_text(text) if suffix in (".html", ".htm") else text)]
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise DatasetError(
            "the document has no text; fill it or remove it from generator.documents.files",
            file=display_path(path),
        )
    return docs


def read_documents(
    patterns: list[str], base_dir: Path, *, jsonl_field: str = "text"
) -> list[Document]:
    """The documents of ``patterns``, in sorted file order (a .jsonl file: one per line)."""
    return [
        doc
        for path in expand_files(patterns, base_dir)
        for doc in _read_one(path, base_dir, jsonl_field)
    ]
