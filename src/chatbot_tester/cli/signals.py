"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

The handlers hand the signal to whatever handles SIGINT at that moment (asyncio's runner
cancels the main task, so the run is saved as ``interrupted`` and stays resumable), or
raise ``KeyboardInterrupt`` when SIGINT is ignored. ``exit_code()`` is 128 + the number of
the signal that stopped the command: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_received: list[int] = []


def _forward(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def install() -> None:
    """Route SIGTERM and SIGHUP through the SIGINT path (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _forward)


def exit_code() -> int:
    """The exit code of an interrupted command: 128 + the first stopping signal (SIGINT: 130)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def name() -> str:
    """The stopping signal's name, e.g. ``SIGTERM`` (``SIGINT`` when none was forwarded)."""
    return signal.Signals(_received[0]).name if _received else "SIGINT"
