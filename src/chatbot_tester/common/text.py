"""Make untrusted text safe to show: no terminal escapes, no control characters, one line.

Sample ids, metric names, answers and reasons come from datasets and model outputs. Before
they reach a Markdown report or a terminal, ANSI/OSC escape sequences are removed (they could
clear the screen, retitle the window or forge lines), every other C0/C1 control character is
dropped, and line breaks and tabs become spaces (a table cell or a log line stays one line).
The one sanitiser: reports, the console and the CLI's error lines all use it (and it masks
registered secrets, ``common.redact``, so a truncated excerpt never shows a secret's prefix).
"""

from __future__ import annotations

import re

from chatbot_tester.common.redact import mask_secrets

__all__ = ["clean_text", "one_line", "terminal_text"]

_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[\x20-/]*[@-~]               # CSI ... final byte (colours, cursor, clear)
  | \x9b[0-?]*[\x20-/]*[@-~]                 # the same with the 8-bit CSI
  | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])  # OSC, DCS, SOS, PM, APC strings ...
    [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?    # ... up to BEL or the string terminator
  | \x1b[\x20-/]*[0-~]                       # any other escape sequence
  | \x1b                                     # a lone ESC
    """,
    re.VERBOSE,
)
_BREAKS = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def clean_text(text: object) -> str:
    """``text`` without escape sequences or control characters; line breaks become spaces.

    Registered secrets are masked first, before any caller truncates the result.
    """
    s = mask_secrets(str(text))
    if s.isprintable():  # the common case: nothing to strip, no line breaks
        return s
    s = _ESCAPES.sub("", s)
    s = _BREAKS.sub(" ", s)
    return _CONTROL.sub("", s)


def one_line(text: object) -> str:
    """``clean_text`` with runs of white space folded to one space (an error message line)."""
    return " ".join(clean_text(text).split())


def terminal_text(text: object) -> str:
    """``clean_text`` for rich output: markup brackets are escaped so they print literally."""
    from rich.markup import escape

    return escape(clean_text(text))
