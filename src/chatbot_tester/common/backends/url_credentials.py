"""Credentials inside a base URL (``https://user:p/ss@host/v1``): accepted, encoded, hidden.

A password is often pasted as is, with ``/``, ``?``, ``#`` or ``@`` in it; read literally the
URL then has a "port" made of the password's first characters, and the parser's error
quotes it. ``encode_userinfo`` takes the text up to the last ``@`` before the host as the
user info, percent-encodes it and registers the password as a secret (``common.redact``);
``hide_userinfo`` is what error messages show of such a URL. An unencoded ``@`` in the path
of a URL with credentials-like text before it is read as credentials: write it ``%40``.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from chatbot_tester.common.redact import register_secret

__all__ = ["encode_userinfo", "hide_userinfo"]

_WITH_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@([^/@?#]*)(.*)$", re.DOTALL)
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$")


def _port_ok(netloc: str) -> bool:
    try:
        urlsplit(f"http://{netloc}").port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        return False
    return True


def _needs_encoding(value: str) -> bool:
    parts = urlsplit(value)
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        return unquote(userinfo) != userinfo or not _port_ok(parts.netloc)
    after = value[len(parts.scheme) + 3 + len(parts.netloc) :]
    return "@" in after and (":" in parts.netloc or not _port_ok(parts.netloc))


def encode_userinfo(value: str) -> str:
    """``value`` with its user info percent-encoded (the password registered as a secret)."""
    if "@" not in value or "://" not in value:
        return value
    match = _WITH_USERINFO.match(value)
    if match is None or not _HOST.match(match.group(3)):
        return value
    scheme, userinfo, host, rest = match.groups()
    user, sep, password = userinfo.partition(":")
    if password:
        register_secret(password)
        register_secret(unquote(password))
    if not _needs_encoding(value):
        return value
    encoded = quote(unquote(user), safe="") + sep + quote(unquote(password), safe="")
    if password:
        register_secret(quote(unquote(password), safe=""))
    return f"{scheme}{encoded}@{host}{rest}"


def hide_userinfo(value: str) -> str:
    """``value`` with any user info replaced by ``***`` (for error messages)."""
    match = _WITH_USERINFO.match(value)
    if match is None:
        return value
    scheme, _userinfo, host, rest = match.groups()
    return f"{scheme}***@{host}{rest}"
