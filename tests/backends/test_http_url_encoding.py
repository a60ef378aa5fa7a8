"""Values templated into the ``http`` backend's URL are percent-encoded (real loopback server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest
from aiohttp import web

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.schemas import ChatRequest, Message

HOSTILE = "../../admin/delete?all=1#"


@pytest.fixture
async def recording_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A server that records every raw path and hands out a hostile session id."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"reply": "ok", "session": HOSTILE})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_server_controlled_session_id_cannot_change_the_url_path(recording_server) -> None:
    url, seen = recording_server
    backend = backend_registry.create(
        "http",
        url=url + "/api/chat/{{ session_id }}/send",
        response_path="reply",
        session_id_path="session",
    )
    try:
        first = await backend.send(
            ChatRequest(messages=[Message(role="user", content="hi")], session_id="start")
        )
        assert first.session_id == HOSTILE
        await backend.send(
            ChatRequest(
                messages=[Message(role="user", content="again")], session_id=first.session_id
            )
        )
    finally:
        await backend.aclose()
    assert seen[0] == "/api/chat/start/send"
    # One path segment that decodes to the hostile value ('=' may stay unencoded in a path).
    segments = seen[1].split("/")
    assert segments[:3] == ["", "api", "chat"] and segments[4:] == ["send"], seen[1]
    assert unquote(segments[3]) == HOSTILE
    assert not any(path.startswith("/admin") for path in seen)
