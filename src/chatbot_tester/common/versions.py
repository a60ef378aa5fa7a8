"""Versions of Python, the platform, chatbot-tester and its key dependencies, for manifests.

Read from installed package metadata, so nothing is imported (no SDK start-up cost).
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

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
    for name in (*KEY_PACKAGES, *extra):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            if name == "chatbot-tester":
                from chatbot_tester._version import __version__

                versions[name] = __version__
    return versions
