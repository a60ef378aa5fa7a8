"""Console output with registered secrets masked: ``sys.stdout``/``sys.stderr`` wrappers.

``main`` installs them for the duration of a command, so click, rich, logging and plugins'
``print`` all write through ``common.redact.mask_secrets`` (their ``.buffer`` too). Each
``write`` is masked on its own: output is written a line or a message at a time.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO, cast

from chatbot_tester.common.redact import mask_secrets, mask_secrets_bytes

__all__ = ["masked_console"]


class _MaskedBinary:
    """A binary stream whose ``write`` masks registered secrets."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def write(self, data: bytes) -> int:
        self._raw.write(mask_secrets_bytes(bytes(data)))
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class _MaskedText:
    """A text stream whose ``write`` masks registered secrets; everything else delegates."""

    def __init__(self, raw: TextIO) -> None:
        self._raw = raw

    def write(self, text: str) -> int:
        self._raw.write(mask_secrets(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    @property
    def buffer(self) -> Any:
        return _MaskedBinary(self._raw.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@contextlib.contextmanager
def masked_console() -> Iterator[None]:
    """Mask secrets in everything written to stdout/stderr inside the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, _MaskedText(sys.stdout))
    sys.stderr = cast(TextIO, _MaskedText(sys.stderr))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
