"""Keep secrets out of files, logs, error messages and reports.

Every secret value that enters the process through configuration (``${OPENAI_API_KEY}``
and the like, see ``common.config.resolve_env``) is registered here; ``redact`` replaces each
registered value, and anything shaped like a well-known API key or bearer token, by ``***``.
"""

from __future__ import annotations

import re
import threading

__all__ = [
    "MIN_SECRET_LENGTH",
    "clear_secrets",
    "looks_secret_name",
    "redact",
    "register_secret",
]

MIN_SECRET_LENGTH = 8
"""Shorter values are not registered: redacting them would garble ordinary text."""

_MASK = "***"

# Well-known key shapes, redacted even when never registered (keys pasted into a dataset,
# echoed in a server's error body, ...). Group 1, when present, is kept.
_PATTERNS = re.compile(
    r"(?:\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"  # OpenAI/Anthropic/Stripe style
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bAIza[0-9A-Za-z_\-]{30,}"  # Google API keys
    r"|(\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=\-]{8,}"  # Authorization header values
    r"|((?:[?&]|\b)(?:api[_-]?key|access[_-]?token|token|secret|password|key)=)[^&\s\"']{4,}"
    r")",
    re.IGNORECASE,
)

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTHORIZATION")

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None


def looks_secret_name(name: str) -> bool:
    """True for names like ``OPENAI_API_KEY``, ``api_token``, ``Authorization``, ``password``."""
    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS)


def register_secret(value: str) -> None:
    """Remember ``value`` as a secret so ``redact`` masks it everywhere (process-wide).

    Values shorter than ``MIN_SECRET_LENGTH`` characters are ignored.
    """
    global _secret_re
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _secret_re
    with _lock:
        _secrets.clear()
        _secret_re = None


def _mask_pattern(m: re.Match[str]) -> str:
    prefix = m.group(1) or m.group(2) or ""
    return prefix + _MASK


def redact(text: str) -> str:
    """``text`` with registered secrets and well-known key shapes replaced by ``***``."""
    if not text:
        return text
    secret_re = _secret_re
    if secret_re is not None:
        text = secret_re.sub(_MASK, text)
    return _PATTERNS.sub(_mask_pattern, text)
