"""Reaching Ray: the import with the install hint, and starting or joining the cluster.

Shared by the runner's and the evaluator's ``executor: ray`` (neither imports the other).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chatbot_tester.errors import ConfigError

if TYPE_CHECKING:
    from chatbot_tester.common.config import RayConfig

__all__ = ["INSTALL_HINT", "check_ray", "connect", "import_ray", "ray_session"]

INSTALL_HINT = "executor 'ray' needs Ray, which is not installed: pip install 'chatbot-tester[ray]'"


def check_ray(where: str) -> None:
    """One ``ConfigError`` line naming ``where`` when Ray is not installed (nothing imported)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"{where}: {INSTALL_HINT}")


def import_ray(*, local: bool, where: str = "runner.executor") -> Any:
    """The ``ray`` module, or one ``ConfigError`` line with the install hint.

    For a local cluster (``local``) Ray is told to use the loopback address, so nothing the
    cluster runs listens beyond this machine (must be set before Ray's first import).
    """
    if local and "ray" not in sys.modules:
        # Off, Ray treats the node as single-machine and takes 127.0.0.1 as its IP (as on macOS)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(f"{where}: {INSTALL_HINT}") from None
    return ray


def connect(ray: Any, settings: RayConfig) -> bool:
    """Start or join the cluster unless this process already did; whether to shut down after."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
    }
    if settings.address is None:
        options["num_cpus"] = settings.num_workers
    else:
        options["address"] = settings.address
    ray.init(**options)
    return True


@contextmanager
def ray_session(settings: RayConfig, *, where: str = "runner.executor") -> Iterator[None]:
    """Join or start the cluster for the whole block, and leave it (or stop it) after.

    The stages inside find Ray initialized and reuse it: a pipeline whose runner and
    evaluator both run on the same cluster settings starts a local cluster once, not twice.
    """
    ray = import_ray(local=settings.address is None, where=where)
    owned = connect(ray, settings)
    try:
        yield
    finally:
        if owned:
            ray.shutdown()
