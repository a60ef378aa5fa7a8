"""One lazy loader for package ``__init__`` modules: public names imported on first use.

A package lists ``name -> module`` and gets back its module-level ``__getattr__`` and
``__dir__``, so ``import chatbot_tester`` (and the CLI's ``--help``) stays fast and imports no
SDK until a name is actually used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: dict[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` resolving each of ``names`` from its module.

    A resolved value is cached in the package's namespace, so the loader runs once per name.
    """
    listed = sorted(public)

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return listed

    return __getattr__, __dir__
