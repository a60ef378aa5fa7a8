"""The one sync-over-async bridge: run a coroutine-driving callable from any thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_blocking(main: Callable[[], T]) -> T:
    """``main()`` here, or in a worker thread when this thread already runs an event loop.

    ``main`` usually calls ``asyncio.run``; inside a running loop (a notebook cell, an async
    test) that would fail, so it runs on a fresh thread with its own loop and this waits.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return main()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatbot-tester") as pool:
        return pool.submit(main).result()
