"""Shared helpers of the dataset readers: file access, UTF-8 decoding, per-sample rules.

``sample_problem`` holds the rules pydantic's ``TestSample`` model does not express and that
apply to every source format alike: a printable id and a non-blank user input.
"""

from __future__ import annotations

import re
from pathlib import Path

from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import DatasetError

__all__ = ["decode_text", "display_path", "read_bytes", "sample_problem"]

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0/C1 control characters, line separators and bidi overrides (never valid in an id)."""


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (for error messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def decode_text(path: Path, data: bytes) -> str:
    """``data`` as text (a UTF-8 BOM is dropped); a decoding error names the byte and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:offset].count(b"\n") + 1
        raise DatasetError(
            f"not valid UTF-8 at byte {offset} (line {line}); save the file as UTF-8",
            file=display_path(path),
        ) from None


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path``; a missing file or a directory is a one-line ``DatasetError``."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError("file not found", file=display_path(path)) from None
    except IsADirectoryError:
        raise DatasetError("is a directory, expected a file", file=display_path(path)) from None


def sample_problem(sample: TestSample) -> str | None:
    """What is wrong with ``sample`` beyond its schema (``field 'x': ...; fix``), or None."""
    bad = _UNPRINTABLE.search(sample.id)
    if bad is not None:
        return (
            f"field 'id': contains the control character U+{ord(bad.group()):04X}; "
            "ids must be printable text"
        )
    if isinstance(sample.input, str):
        if not sample.input.strip():
            return "field 'input': empty; write the user's message or delete the sample"
    elif sample.input is not None:
        for i, message in enumerate(sample.input):
            if message.role == "user" and not message.content.strip():
                return (
                    f"field 'input.{i}.content': empty user message; write it or delete the message"
                )
    for i, turn in enumerate(sample.turns or ()):
        if not turn.user.strip():
            return f"field 'turns.{i}.user': empty user turn; write it or delete the turn"
    return None
