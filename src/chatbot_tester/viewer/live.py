"""Server-sent events from a run's event log, for a run written by any process.

The handler tails ``events.jsonl`` from the start (or ``Last-Event-ID``, a byte offset),
sends every complete line as one event whose id is the offset after it, and ends after
``RunFinished``, when the run's manifest says it is no longer running and nothing new
arrives, or when the client goes away. Lines are forwarded as they are: they are JSON the
page parses and renders as text.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from chatbot_tester.viewer.api import STORE, routes

__all__ = ["POLL_SECONDS"]

POLL_SECONDS = 0.25
"""How often the log is checked for new lines."""
_HEARTBEAT_POLLS = 60
_MAX_CHUNK = 1 << 20


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(_MAX_CHUNK)
    except FileNotFoundError:
        return b""


@routes.get("/api/runs/{run_id}/events")
async def events(request: web.Request) -> web.StreamResponse:
    """The run's events as ``text/event-stream``, live while it runs."""
    store = request.app[STORE]
    run_id = request.match_info["run_id"]
    if await asyncio.to_thread(store.entry, run_id) is None:
        raise web.HTTPNotFound(text='{"error": "no such run"}', content_type="application/json")
    path = store.events_path(run_id)
    try:
        offset = max(0, int(request.headers.get("Last-Event-ID", "0")))
    except ValueError:
        offset = 0
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    idle = 0
    while True:
        chunk = await asyncio.to_thread(_read_from, path, offset)
        end = chunk.rfind(b"\n")
        finished = False
        if end >= 0:
            idle = 0
            for line in chunk[: end + 1].splitlines(keepends=True):
                offset += len(line)
                text = line.strip()
                if not text:
                    continue
                await resp.write(b"id: %d\ndata: %s\n\n" % (offset, text))
                finished = finished or (
                    text.startswith(b'{"ts"') and b'"event":"RunFinished"' in text
                )
        if finished:
            break
        if end < 0:
            idle += 1
            if idle % 8 == 0 and not await asyncio.to_thread(_running, store.manifest(run_id)):
                break
            if idle % _HEARTBEAT_POLLS == 0:
                await resp.write(b": keep-alive\n\n")
            await asyncio.sleep(POLL_SECONDS)
    await resp.write(b"event: end\ndata: {}\n\n")
    return resp


def _running(manifest: object) -> bool:
    return isinstance(manifest, dict) and manifest.get("status") == "running"
