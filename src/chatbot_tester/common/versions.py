"""Versions of Python, the platform, chatbot-tester and its key dependencies, for manifests.

Read from the names of the installed ``*.dist-info`` folders (one directory listing per
``sys.path`` entry, the way ``importlib.metadata`` finds them), so nothing is imported and no
metadata file is opened: asking ``importlib.metadata.version`` for 16 names, most of them not
installed, cost 60-90 ms of every run's start-up.
"""

from __future__ import annotations

import os
import platform
import re
import sys

__all__ = ["KEY_PACKAGES", "collect_versions"]

KEY_PACKAGES = (
    "chatbot-tester",
    "pydantic",
    "pydantic-core",
    "openai",
    "anthropic",
    "aiohttp",
    "httpx",
    "anyio",
    "orjson",
    "pyyaml",
    "jinja2",
    "rich",
    "tiktoken",
    "sentence-transformers",
    "sacrebleu",
    "rouge-score",
)
"""Distributions whose versions are recorded when installed."""


def collect_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """``{"python": ..., "platform": ..., "<dist>": version, ...}`` for installed distributions.

    Packages that are not installed are left out; ``extra`` adds more distribution names
    (plugins, for instance).
    """
    versions = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
    }
    installed = _installed()
    for name in (*KEY_PACKAGES, *extra):
        found = installed.get(_normalise(name))
        if found is not None:
            versions[name] = found
        elif name == "chatbot-tester":
            from chatbot_tester._version import __version__

            versions[name] = __version__
    return versions


_DIST = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._]*)-([^-]+?)\.(?:dist-info|egg-info)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> dict[str, str]:
    """Normalised distribution name -> version, first ``sys.path`` entry wins (as imports do)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            match = _DIST.match(name)
            if match is not None:
                found.setdefault(_normalise(match.group(1)), match.group(2))
    return found
