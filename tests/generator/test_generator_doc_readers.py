"""Document readers (txt, md, html, pdf, jsonl), globs, chunking and near-duplicates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chatbot_tester.errors import ConfigError, DatasetError
from chatbot_tester.generator.chunking import chunk_document, content_words
from chatbot_tester.generator.dedupe import near_duplicates
from chatbot_tester.generator.doc_readers import Document, html_text, read_documents


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica (offsets of the xref table computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_html_keeps_visible_text_only() -> None:
    page = (
        "<html><head><title>Help</title><style>p {color: red}</style>"
        "<script>var secret = 'tracking';</script></head><body><h1>Returns</h1>"
        "<p>Within <b>30&nbsp;days</b> &amp; unused.</p><noscript>enable JS</noscript></body></html>"
    )
    assert html_text(page) == "Help\nReturns\nWithin 30 days & unused."


def test_every_format_is_read_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# B\nMarkdown text.")
    (tmp_path / "a.txt").write_text("Plain text.")
    (tmp_path / "c.html").write_text("<p>Html <script>x()</script>text.</p>")
    (tmp_path / "d.jsonl").write_text('{"body": "Line one."}\n\n{"body": "Line two."}\n')
    (tmp_path / "e.pdf").write_bytes(pdf_bytes("Tents have a two year warranty."))
    docs = read_documents(
        ["*.txt", "b.md", "c.html", "d.jsonl", "*.pdf", "a.txt"], tmp_path, jsonl_field="body"
    )
    assert [d.source for d in docs] == [
        "a.txt",
        "b.md",
        "c.html",
        "d.jsonl#L1",
        "d.jsonl#L3",
        "e.pdf",
    ]
    assert [d.text.strip() for d in docs[:5]] == [
        "Plain text.", "# B\nMarkdown text.", "Html text.", "Line one.", "Line two."
    ]  # fmt: skip
    assert "two year warranty" in docs[5].text


@pytest.mark.parametrize(
    ("files", "write", "needle"),
    [
        (["missing.md"], {}, "missing.md: file not found"),
        (["docs"], {"docs/x.csv": "a"}, "docs: the pattern matches no document"),
        (["docs/*.md"], {"docs/x.csv": "a"}, "docs/*.md: the pattern matches no document"),
        (["empty.md"], {"empty.md": "  \n"}, "empty.md: the document has no text"),
        (["bad.pdf"], {"bad.pdf": "%PDF-1.4 garbage"}, "bad.pdf: cannot read the PDF"),
        (
            ["x.jsonl"],
            {"x.jsonl": '{"text": "ok"}\n{"body": 1}\n'},
            "x.jsonl:2: no text field 'text'",
        ),
        (["x.jsonl"], {"x.jsonl": "[1]\nnot json\n"}, "x.jsonl:1: no text field"),
        (["notes.docx"], {"notes.docx": "a"}, "unsupported document type '.docx'"),
    ],
)
def test_bad_documents_are_one_line(
    tmp_path: Path, files: list[str], write: dict[str, str], needle: str
) -> None:
    for name, text in write.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as info:
        read_documents(files, tmp_path)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_pdf_without_the_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.pdf").write_bytes(pdf_bytes("Hello"))
    monkeypatch.setitem(sys.modules, "pypdf", None)  # `import pypdf` raises ImportError
    with pytest.raises(ConfigError, match=r"a.pdf: .*pip install 'chatbot-tester\[pdf\]'") as info:
        read_documents(["a.pdf"], tmp_path)
    assert not isinstance(info.value, DatasetError)


def test_chunks_overlap_and_have_stable_ids() -> None:
    text = " ".join(f"w{i}" for i in range(50))
    doc = Document("docs/a.md", text)
    chunks = chunk_document(doc, 20, 5)
    assert [len(c.text.split()) for c in chunks] == [20, 20, 20]  # 0-19, 15-34, 30-49
    assert chunks[1].text.split()[:5] == chunks[0].text.split()[-5:]
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert [c.id for c in chunks] == [c.id for c in chunk_document(doc, 20, 5)]
    assert len({c.id for c in chunks}) == 3
    moved = chunk_document(Document("docs/b.md", text), 20, 5)
    assert not {c.id for c in moved} & {c.id for c in chunks}  # the source is in the id
    edited = chunk_document(Document("docs/a.md", text.replace("w45", "changed")), 20, 5)
    assert [a.id == b.id for a, b in zip(chunks, edited, strict=True)] == [True, True, False]


def test_content_words_and_near_duplicates() -> None:
    assert content_words("The warranty does NOT cover wear.") == ["warranty", "cover", "wear"]
    questions = [
        "How long is the warranty?",
        "how long is the warranty ?!",
        "Where is Denver?",
        "How long's the warranty",
    ]
    assert near_duplicates(questions, 90) == {1: (0, 100.0), 3: (0, pytest.approx(97.87, abs=0.01))}
    assert near_duplicates(questions, 100) == {1: (0, 100.0)}


def test_a_folder_stands_for_every_document_below_it(tmp_path: Path) -> None:
    (tmp_path / "kb" / "deep").mkdir(parents=True)
    (tmp_path / "kb" / "a.md").write_text("A.")
    (tmp_path / "kb" / "deep" / "b.txt").write_text("B.")
    (tmp_path / "kb" / "deep" / "skip.csv").write_text("x")
    assert [d.source for d in read_documents(["kb"], tmp_path)] == ["kb/a.md", "kb/deep/b.txt"]
