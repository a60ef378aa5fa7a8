"""One keep-alive aiohttp session per backend and event loop, shared by the aiohttp backends.

aiohttp sessions belong to the loop they were created in, so the session is made lazily,
inside the running loop, and re-made if the backend is later used from another loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import aiohttp

__all__ = ["LoopSession"]


class LoopSession:
    """A lazily created ``aiohttp.ClientSession`` with a bounded keep-alive connection pool.

    ``timeout_s`` is a generous whole-request limit (the runner enforces its own per-attempt
    limit); ``headers`` are sent with every request (as session defaults, which aiohttp
    merges faster than per-request headers); ``skip_auto_headers`` lists headers aiohttp
    should not add (e.g. ``User-Agent`` when the caller sends its own). No cookies are kept:
    one sample's ``Set-Cookie`` must not reach the next sample's request.
    """

    __slots__ = (
        "_loop",
        "_session",
        "connector_factory",
        "headers",
        "limit",
        "skip_auto_headers",
        "timeout_s",
        "verify_tls",
    )

    def __init__(
        self,
        *,
        limit: int,
        verify_tls: bool = True,
        timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        skip_auto_headers: Iterable[str] = ("User-Agent",),
        connector_factory: Callable[[], aiohttp.BaseConnector] | None = None,
    ) -> None:
        self.limit = limit
        self.connector_factory = connector_factory
        """Makes the connector of each new session (tests inject one to count connections)."""
        self.headers = dict(headers or {})
        self.verify_tls = verify_tls
        self.timeout_s = timeout_s
        self.skip_auto_headers = tuple(skip_auto_headers)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        """The session of the running loop (created on first use)."""
        session = self._session
        if session is not None and not session.closed:
            loop = asyncio.get_running_loop()
            if self._loop is loop:
                return session
        return self._create()

    def _create(self) -> aiohttp.ClientSession:
        import aiohttp
        from multidict import CIMultiDict

        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in self.headers.items():
            headers[name] = (
                value  # case-insensitive: a later "content-type" replaces "Content-Type"
            )

        connector: aiohttp.BaseConnector
        if self.connector_factory is not None:
            connector = self.connector_factory()
        else:
            connector = aiohttp.TCPConnector(
                limit=self.limit,
                limit_per_host=0,
                ttl_dns_cache=300,
                keepalive_timeout=30,
                ssl=self.verify_tls,
            )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s, sock_connect=30),
            headers=headers,
            skip_auto_headers=self.skip_auto_headers,
            cookie_jar=aiohttp.DummyCookieJar(),  # samples share nothing, as on the h1 path
        )
        self._session, self._loop = session, asyncio.get_running_loop()
        return session

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
