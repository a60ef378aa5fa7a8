"""Keep secrets out of files, logs, error messages and reports.

Every secret value that enters the process through configuration (``${OPENAI_API_KEY}``
and the like, see ``common.config.resolve_env``) is registered here. Two functions mask:

- ``mask_secrets`` / ``mask_secrets_bytes`` replace only *registered* values, and the forms a
  value takes once written (JSON-escaped, HTML/XML-escaped, percent-encoded, the SQuAD
  normalisation metrics store), case-insensitively, by ``***``. They are the hook of every
  writer (artifact files, JSONL appends, the response cache, remote stores, the console), so
  they are gated by a cheap substring test: with no registered secret they cost one
  attribute read, and a text holding none of them costs one ``lower()`` and one ``in`` per
  secret (see ``bench/redaction.py``). They never touch unregistered key shapes, so answers
  keep what ``pii_leak`` must see.
- ``redact`` also masks anything shaped like a well-known API key or bearer token; it is for
  error messages and log lines, not for answers.

Values shorter than ``MIN_SECRET_LENGTH`` characters are not registered: masking them would
garble ordinary text.
"""

from __future__ import annotations

import functools
import json
import re
import string
import threading
from typing import NamedTuple
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_SECRET_LENGTH",
    "clear_secrets",
    "looks_secret_name",
    "mask_secrets",
    "mask_secrets_bytes",
    "max_form_bytes",
    "redact",
    "register_secret",
    "secret_count",
]

MIN_SECRET_LENGTH = 8
"""Shorter values are not registered: redacting them would garble ordinary text."""

_MASK = "***"
_MASK_BYTES = _MASK.encode()

# Well-known key shapes, redacted even when never registered (keys pasted into a dataset,
# echoed in a server's error body, ...). Group 1, when present, is kept. Compiled at the
# first ``redact`` (see ``_key_shapes``): most runs never call it.
_PATTERNS = (
    r"(?:\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"  # OpenAI/Anthropic/Stripe style
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bAIza[0-9A-Za-z_\-]{30,}"  # Google API keys
    r"|(\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=\-]{8,}"  # Authorization header values
    r"|((?:[?&]|\b)(?:api[_-]?key|access[_-]?token|token|secret|password|key)=)[^&\s\"']{4,}"
    r")"
)

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTHORIZATION")
_SECRET_PARTS = frozenset({"AUTH", "CREDS", "PWD", "BEARER"})

_PUNCT = str.maketrans("", "", string.punctuation)
_ARTICLES = r"\b(a|an|the)\b"
_ALNUM_RUN = r"[a-z0-9]+"
_NON_WORD = r"[^\w\s]|_"
"""Used (through ``re``'s cache) only when a secret is registered."""


@functools.cache
def _key_shapes() -> re.Pattern[str]:
    return re.compile(_PATTERNS, re.IGNORECASE)


class _Entry(NamedTuple):
    """One registered secret: the gate's anchors and the pattern of all its forms."""

    anchors: tuple[str, ...]
    """Lowercase ASCII substrings: a text containing none of them holds no form of the secret."""
    anchors_bytes: tuple[bytes, ...]
    pattern: re.Pattern[str]
    pattern_bytes: re.Pattern[bytes]
    longest: int
    """Byte length of the longest form (what a streaming writer must hold back)."""


_lock = threading.Lock()
_secrets: set[str] = set()
_state: tuple[_Entry, ...] = ()


def looks_secret_name(name: str) -> bool:
    """True for names like ``OPENAI_API_KEY``, ``api_token``, ``Authorization``, ``DB_AUTH``."""
    upper = name.upper()
    if any(word in upper for word in _SECRET_WORDS):
        return True
    return not _SECRET_PARTS.isdisjoint(re.split(r"[^A-Z0-9]+", upper))


def _escaped(text: str) -> set[str]:
    """``text`` as JSON string content (both ``ensure_ascii`` modes), HTML/XML and a URL."""
    out = {json.dumps(text, ensure_ascii=a)[1:-1] for a in (True, False)}
    out |= {  # JSON embedded in an HTML <script> (report.html): <, > and & as \u escapes
        j.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") for j in out
    }
    import html  # its entity table: only once a secret is registered

    for quoted in (html.escape(text, quote=False), html.escape(text)):
        out.update({quoted, quoted.replace("&#x27;", "&#39;"), quoted.replace("&#x27;", "&apos;")})
    out.update({quote(text, safe=""), quote_plus(text, safe="")})
    return out


def _forms(secret: str) -> set[str]:
    """The texts ``secret`` may appear as in an artifact (each matched case-insensitively).

    The value, its SQuAD-normalised copies (what ``exact_match`` keeps), the copy a tokeniser
    splitting on punctuation makes (``sk canary 42``), and each of those
    escaped once or twice (an answer quoting the key as JSON is JSON-escaped again in
    ``results.jsonl``; a JSON payload inside ``report.html`` is HTML-escaped too).
    """
    forms = {secret}
    lowered = secret.lower()
    stripped = lowered.translate(_PUNCT)
    spaced = re.sub(_NON_WORD, " ", lowered)  # what a tokeniser splitting on punctuation keeps
    for norm in (stripped, re.sub(_ARTICLES, " ", stripped), spaced):
        forms.update({norm, " ".join(norm.split()), "".join(norm.split())})
    for _depth in range(2):
        forms |= {e for f in forms for e in _escaped(f)}
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def _anchors(secret: str, forms: set[str]) -> set[str]:
    """Lowercase substrings such that every form contains at least one of them."""
    runs = re.findall(_ALNUM_RUN, secret.lower())
    longest = max(runs, key=len, default="")
    if len(longest) >= 4 and all(longest in f.lower() for f in forms):
        return {longest}
    return {f.lower() for f in forms}


def _entry(secret: str) -> _Entry:
    forms = sorted(_forms(secret), key=len, reverse=True)  # longest first: no partial masks
    anchors = tuple(sorted(_anchors(secret, set(forms))))
    return _Entry(
        anchors=anchors,
        anchors_bytes=tuple(a.encode() for a in anchors),
        pattern=re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE),
        pattern_bytes=re.compile(b"|".join(re.escape(f.encode()) for f in forms), re.IGNORECASE),
        longest=max(len(f.encode()) for f in forms),
    )


def _rebuild() -> None:
    global _state
    # Longest secret first, so one that contains another is masked whole.
    _state = tuple(_entry(s) for s in sorted(_secrets, key=len, reverse=True))


def register_secret(value: str) -> None:
    """Remember ``value`` as a secret so every writer masks it (process-wide).

    Values shorter than ``MIN_SECRET_LENGTH`` characters are ignored.
    """
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _rebuild()


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    with _lock:
        _secrets.clear()
        _rebuild()


def max_form_bytes() -> int:
    """Byte length of the longest registered form (0 with nothing registered)."""
    return max((entry.longest for entry in _state), default=0)


def secret_count() -> int:
    """How many secrets are registered."""
    return len(_secrets)


def mask_secrets(text: str) -> str:
    """``text`` with every registered secret (in any of its written forms) replaced by ``***``."""
    state = _state
    if not state or not text:
        return text
    low = text.lower()
    for entry in state:
        for anchor in entry.anchors:
            if anchor in low:
                text = entry.pattern.sub(_MASK, text)
                low = text.lower()
                break
    return text


def mask_secrets_bytes(data: bytes) -> bytes:
    """``mask_secrets`` for UTF-8 bytes (what the artifact writers hold)."""
    state = _state
    if not state or not data:
        return data
    low = data.lower()
    for entry in state:
        for anchor in entry.anchors_bytes:
            if anchor in low:
                data = entry.pattern_bytes.sub(_MASK_BYTES, data)
                low = data.lower()
                break
    return data


def _mask_pattern(m: re.Match[str]) -> str:
    prefix = m.group(1) or m.group(2) or ""
    return prefix + _MASK


def redact(text: str) -> str:
    """``text`` with registered secrets and well-known key shapes replaced by ``***``."""
    if not text:
        return text
    return _key_shapes().sub(_mask_pattern, mask_secrets(text))
