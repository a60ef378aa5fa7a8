"""Event subscribers named in the pipeline (``subscribers:``) or with ``run --subscriber``.

Each reference is ``package.module:factory``; the factory is called with no arguments and
returns the subscriber (a callable fed every event, sync or async). The pipeline file's
folder is importable, like for the ``python`` backend. A reference that cannot be loaded is
a ``ConfigError`` naming it, before anything runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from chatbot_tester.common.events import Subscriber
from chatbot_tester.common.registry import import_object
from chatbot_tester.errors import ConfigError

__all__ = ["load_subscribers"]


def load_subscribers(refs: Sequence[str], base_dir: Path, *, where: str) -> list[Subscriber]:
    """Import and call each ``module:factory``; the subscribers they return."""
    folder = str(base_dir)
    if refs and folder not in sys.path:
        sys.path.append(folder)
    subscribers: list[Subscriber] = []
    for i, ref in enumerate(refs):
        field = f"{where}[{i}]"
        if ":" not in ref:
            raise ConfigError(f"{field}: '{ref}' must be written as 'package.module:factory'")
        try:
            factory = import_object(ref, what="subscriber factory")
            if not callable(factory):
                raise TypeError(f"{ref} is not callable")
            subscriber = factory()
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"{field}: loading '{ref}' failed: {type(exc).__name__}: {exc}"
            ) from None
        if not callable(subscriber):
            raise ConfigError(
                f"{field}: '{ref}' returned {type(subscriber).__name__}, not a callable"
            )
        subscribers.append(subscriber)
    return subscribers
