"""Run a ``FaultServer`` from synchronous code: its own event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Serving", "ThreadedServer"]


class Serving(Protocol):
    """What a thread can run: a server with async ``start`` and ``stop`` (e.g. ``FaultServer``).

    Typed structurally so this module needs nothing from ``server.py`` (no import circle).
    """

    async def start(self) -> Any:
        """Bind and serve."""

    async def stop(self) -> None:
        """Stop serving."""


S = TypeVar("S", bound=Serving)


class ThreadedServer(Generic[S]):
    """Runs a server (a ``FaultServer``) on a private event loop in a daemon thread."""

    def __init__(self, server: S) -> None:
        self.server = server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> S:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.server.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name="fault-server", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self.server

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop = self._thread = None
