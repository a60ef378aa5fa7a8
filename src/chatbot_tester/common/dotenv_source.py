"""``.env`` beside a pipeline as a second source for ``${VAR}`` references (read only).

When a pipeline file is loaded, the ``.env`` in its folder (if any) is parsed with
python-dotenv into memory. ``lookup`` answers a variable from the process environment
first, then from those files, the most recently loaded pipeline's first (in one process
that loads several pipelines, each sees its own ``.env`` while it is the latest loaded): an
exported variable always wins. Nothing is ever written:
not to ``os.environ`` (so child processes and plugins do not see the values), not to a
file. Values of secret-looking names are redacted like exported ones (``common.config``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["clear", "load_beside", "lookup"]

_lock = threading.Lock()
_values: dict[Path, dict[str, str]] = {}


def load_beside(pipeline_file: Path) -> Path | None:
    """Read the ``.env`` next to ``pipeline_file`` into memory; its path, or None if absent."""
    path = (Path(pipeline_file).parent / ".env").resolve()
    if not path.is_file():
        return None
    from dotenv import dotenv_values

    parsed = {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}
    with _lock:
        _values.pop(path, None)  # re-loading makes it the most recent again
        _values[path] = parsed
    return path


def lookup(name: str) -> str | None:
    """``name`` from the environment, else from the most recently loaded ``.env`` having it."""
    if name in os.environ:
        return os.environ[name]
    with _lock:
        for values in reversed(_values.values()):
            if name in values:
                return values[name]
    return None


def clear() -> None:
    """Forget every loaded ``.env`` (for tests and long-lived processes)."""
    with _lock:
        _values.clear()
