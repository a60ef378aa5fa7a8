"""Shared helpers of the dataset readers: file access, UTF-8 decoding, per-sample rules.

``sample_problem`` holds the rules pydantic's ``TestSample`` model does not express and that
apply to every source format alike: a printable id and a non-blank user input.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import DatasetError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "check_line_lengths",
    "check_regular_file",
    "decode_text",
    "display_path",
    "read_bytes",
    "sample_problem",
]


def _limit(env: str, default: int) -> int:
    try:
        value = int(float(os.environ.get(env, "") or default))
    except ValueError:
        return default
    return value if value > 0 else default


MAX_FILE_BYTES = _limit("CHATBOT_TESTER_MAX_DATASET_BYTES", 512 * 1024 * 1024)
"""Largest dataset or document file read (default 512 MiB; env CHATBOT_TESTER_MAX_DATASET_BYTES)."""
MAX_LINE_BYTES = _limit("CHATBOT_TESTER_MAX_LINE_BYTES", 16 * 1024 * 1024)
"""Longest dataset line (default 16 MiB; env CHATBOT_TESTER_MAX_LINE_BYTES)."""

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0/C1 control characters, line separators and bidi overrides (never valid in an id)."""


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (for error messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError, RuntimeError):  # outside the cwd, or a symlink loop
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


def check_regular_file(path: Path, *, max_bytes: int | None = None) -> int:
    """The size of ``path`` after refusing what cannot be a dataset (one-line ``DatasetError``).

    A FIFO, socket or device (``/dev/zero``) would block or never end, so anything but a
    regular file is refused before it is opened; so are symlink loops and files larger than
    ``max_bytes`` (default ``MAX_FILE_BYTES``).
    """
    where = display_path(path)
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DatasetError("file not found", file=where) from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise DatasetError("symlink loop; point the path at a real file", file=where) from None
        raise DatasetError(f"cannot read file: {exc.strerror or exc}", file=where) from None
    if stat.S_ISDIR(info.st_mode):
        raise DatasetError("is a directory, expected a file", file=where)
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
        raise DatasetError(f"is {kind}, not a regular file; save the data to a file", file=where)
    if info.st_size > limit:
        raise DatasetError(
            f"file is {info.st_size} bytes, over the {limit}-byte limit "
            "(raise CHATBOT_TESTER_MAX_DATASET_BYTES or split the file)",
            file=where,
        )
    return info.st_size


def check_line_lengths(path: Path, data: bytes) -> None:
    """Refuse a line longer than ``MAX_LINE_BYTES`` (one pass of ``find``; free for small files)."""
    if len(data) <= MAX_LINE_BYTES:
        return
    start = line = 0
    while start < len(data):
        line += 1
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if end - start > MAX_LINE_BYTES:
            raise DatasetError(
                f"line is {end - start} bytes, over the {MAX_LINE_BYTES}-byte limit "
                "(raise CHATBOT_TESTER_MAX_LINE_BYTES)",
                file=display_path(path),
                line=line,
            )
        start = end + 1


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file ``path``, within the size limits; else one ``DatasetError``."""
    check_regular_file(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DatasetError("file not found", file=display_path(path)) from None
    except IsADirectoryError:
        raise DatasetError("is a directory, expected a file", file=display_path(path)) from None
    except OSError as exc:
        raise DatasetError(
            f"cannot read file: {exc.strerror or exc}", file=display_path(path)
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise DatasetError(
            f"file is over the {MAX_FILE_BYTES}-byte limit (raise CHATBOT_TESTER_MAX_DATASET_BYTES)",
            file=display_path(path),
        )
    check_line_lengths(path, data)
    return data


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
