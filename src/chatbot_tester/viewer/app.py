"""The ``chatbot-tester view`` web app: static page, JSON API, live events, local by default.

Security: the page is served with a strict Content-Security-Policy (scripts and styles
from this server only, no inline script, no framing), model output is rendered as text by
the page, a loopback server answers only to loopback host names (no DNS rebinding), writes
(tags) must come from the page's own origin, and an optional token (``--token``) is asked
for once, then kept in an HttpOnly cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.viewer import live  # noqa: F401  (registers the events route)
from chatbot_tester.viewer.api import STORE, routes
from chatbot_tester.viewer.store import ViewStore

__all__ = ["CSP", "make_app"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Content-Security-Policy of every answer."""
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
_COOKIE = "ct_view_token"
_STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def make_app(
    workspace: Workspace, *, token: str | None = None, loopback: bool = True
) -> web.Application:
    """The app over ``workspace``; ``loopback``: refuse requests addressed to other names."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback and _host_name(request.host) not in _LOOPBACK_NAMES:
            return web.Response(status=421, text="this viewer answers on loopback names only")
        if token is not None:
            given = request.cookies.get(_COOKIE) or request.query.get("token") or ""
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                given = auth[7:]
            if not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(status=401, text="open the URL with ?token=… printed by view")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return web.Response(status=403, text="cross-origin writes are refused")
        response = await handler(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if token is not None and request.query.get("token"):
            response.set_cookie(_COOKIE, token, httponly=True, samesite="Strict")
        return response

    app = web.Application(middlewares=[guard])
    app[STORE] = ViewStore(workspace)
    app.add_routes(routes)
    app.router.add_get("/", _static("index.html"))
    for name in _STATIC:
        app.router.add_get(f"/static/{name}", _static(name))

    async def close_store(app: web.Application) -> None:
        app[STORE].close()

    app.on_cleanup.append(close_store)
    return app


def _static(name: str) -> Handler:
    body = resources.files("chatbot_tester.viewer").joinpath("static").joinpath(name).read_bytes()
    kind = _STATIC[name]

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type=kind, charset="utf-8")

    return handler
