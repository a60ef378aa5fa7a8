"""A fault-injecting, OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

Endpoints: ``POST /v1/chat/completions`` (JSON and SSE), ``POST /v1/embeddings``,
``POST /v1/messages`` (Anthropic format), ``POST /chat`` (a simple session chatbot),
``GET /v1/models``, ``GET /stats`` and ``POST /reset``. Answers are deterministic
(``"echo: <last user message>"`` unless a responder or rules say otherwise) and faults follow
a seeded ``FaultPlan``. Use it as ``async with FaultServer() as srv:``, from sync code as
``with FaultServer().run_in_thread() as srv:``, or as ``chatbot-tester serve-test``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from typing_extensions import Self

from chatbot_tester.testing.server_faults import Flavor, error_json, write_fault
from chatbot_tester.testing.server_payloads import (
    Answer,
    Responder,
    anthropic_message,
    anthropic_sse,
    anthropic_to_chat,
    default_responder,
    embeddings_body,
    last_user_text,
    message_text,
    normalize_answer,
    openai_completion,
    openai_sse,
)
from chatbot_tester.testing.server_plan import FaultPlan, ServerStats, StatsSnapshot
from chatbot_tester.testing.server_thread import ThreadedServer

__all__ = ["FaultPlan", "FaultServer", "StatsSnapshot"]

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


class _BadRequest(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _conversation_id(request: web.Request, key: Any) -> str:
    sample = request.headers.get("X-Sample-Id")
    if sample:
        return sample
    return hashlib.blake2b(orjson.dumps(key), digest_size=8).hexdigest()


class FaultServer:
    """An aiohttp server that answers deterministically and injects faults by plan.

    ``responder(messages)`` returns the reply text or a full message dict (``content``,
    ``tool_calls``); ``rules`` are ``(regex, reply)`` pairs tried first against the last user
    message. ``latency_ms`` is added before every answer. With ``api_key`` set, requests
    without ``Authorization: Bearer <key>`` (``x-api-key`` for ``/v1/messages``) get a 401.
    """

    def __init__(
        self,
        plan: FaultPlan | None = None,
        *,
        responder: Responder | None = None,
        rules: Sequence[tuple[str, str]] = (),
        latency_ms: float = 0.0,
        api_key: str | None = None,
        usage: bool = True,
        model: str = "fault-server",
        cache_ratio: float = 0.0,
        chunk_delay_ms: float = 0.0,
        trickle_interval_s: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.plan = plan or FaultPlan()
        self.responder: Responder = responder or default_responder
        self.rules = [(re.compile(pattern), reply) for pattern, reply in rules]
        self.latency_s = max(0.0, latency_ms) / 1000.0
        self.api_key = api_key
        self.usage = usage
        self.model = model
        self.cache_ratio = cache_ratio
        self.chunk_delay_s = max(0.0, chunk_delay_ms) / 1000.0
        self.trickle_interval_s = trickle_interval_s
        self.host = host
        self._port = port
        self._stats = ServerStats()
        self._sessions: dict[str, list[dict[str, Any]]] = {}
        self._serial = itertools.count(1)
        self._session_serial = itertools.count(1)
        self.last_body: dict[str, Any] | None = None
        """The JSON body of the latest request to a model endpoint (for assertions in tests)."""
        self.last_headers: Mapping[str, str] = {}
        """The headers of that request (case-insensitive)."""
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        """The bound port (after start)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no path)."""
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL: ``http://127.0.0.1:<port>/v1``."""
        return self.url + "/v1"

    @property
    def stats(self) -> StatsSnapshot:
        """A snapshot of the request counters."""
        return self._stats.snapshot()

    def reset(self) -> None:
        """Zero the counters and forget /chat sessions (same as ``POST /reset``)."""
        self._stats.reset()
        self._sessions.clear()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post(
            "/openai/deployments/{deployment}/chat/completions", self._chat_completions
        )
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/chat", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/stats", self._get_stats)
        app.router.add_post("/reset", self._post_reset)
        return app

    async def start(self) -> Self:
        """Bind and start serving (port 0 picks a free port)."""
        if self._runner is not None:
            return self
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            self._app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, reuse_address=True)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self._port = server.sockets[0].getsockname()[1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        """Stop serving; hanging and trickling requests end at once."""
        if self._runner is None:
            return
        assert self._stopping is not None
        self._stopping.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def run_in_thread(self) -> ThreadedServer[Self]:
        """A context manager running this server on its own event loop in a thread."""
        return ThreadedServer(self)

    # ----------------------------------------------------------------- helpers
    def _authorized(self, request: web.Request, flavor: Flavor) -> bool:
        if self.api_key is None:
            return True
        if flavor == "anthropic" and request.headers.get("x-api-key") == self.api_key:
            return True
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _read(self, request: web.Request, flavor: Flavor) -> dict[str, Any]:
        if not self._authorized(request, flavor):
            self._stats.fault("unauthorized")
            body = error_json(
                401, "Incorrect API key provided.", flavor=flavor, code="invalid_api_key"
            )
            raise _BadRequest(web.Response(status=401, body=body, content_type="application/json"))
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            body = error_json(400, "request body must be a JSON object", flavor=flavor)
            raise _BadRequest(web.Response(status=400, body=body, content_type="application/json"))
        self.last_body = data
        self.last_headers = request.headers
        return data

    @staticmethod
    def _validate_chat(data: dict[str, Any]) -> None:
        """Reject a chat request as OpenAI does: 400 naming the ``param`` that is wrong."""
        problem: tuple[str, str] | None = None
        model, messages = data.get("model"), data.get("messages")
        if "model" not in data:
            problem = ("model", "you must provide a model parameter")
        elif not isinstance(model, str) or not model:
            problem = ("model", f"Invalid type for 'model': expected a string, got {model!r:.40}.")
        elif "messages" not in data:
            problem = ("messages", "Missing required parameter: 'messages'.")
        elif not isinstance(messages, list) or not messages:
            problem = ("messages", "Invalid 'messages': expected a non-empty array of messages.")
        else:
            for i, message in enumerate(messages):
                if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                    problem = ("messages", f"Missing required parameter: 'messages[{i}].role'.")
                    break
        if problem is not None:
            param, message_text_ = problem
            body = orjson.dumps(
                {
                    "error": {
                        "message": message_text_,
                        "type": "invalid_request_error",
                        "param": param,
                        "code": None,
                    }
                }
            )
            raise _BadRequest(web.Response(status=400, body=body, content_type="application/json"))

    def _answer(self, messages: list[dict[str, Any]], flavor: Flavor) -> Answer:
        if self.rules:
            text = last_user_text(messages)
            for pattern, reply in self.rules:
                if pattern.search(text):
                    return normalize_answer(reply)
        try:
            return normalize_answer(self.responder(messages))
        except Exception as exc:
            body = error_json(500, f"responder failed: {type(exc).__name__}: {exc}", flavor=flavor)
            self._stats.fault("responder_error")
            raise _BadRequest(
                web.Response(status=500, body=body, content_type="application/json")
            ) from None

    async def _gate(
        self,
        request: web.Request,
        conversation: str,
        flavor: Flavor,
        good: dict[str, Any],
        events: list[bytes] | None = None,
    ) -> web.StreamResponse | None:
        """Apply latency and maybe a fault; None means: answer normally."""
        attempt = self._stats.attempt(conversation)
        plan = self.plan
        mode = plan.choose(conversation, attempt) if plan.active else None
        if self.latency_s and mode != "hang":
            await asyncio.sleep(self.latency_s)
        if mode is None:
            return None
        self._stats.fault(mode)
        assert self._stopping is not None
        return await write_fault(
            request,
            mode,
            flavor=flavor,
            retry_after_s=plan.retry_after_s,
            stopping=self._stopping,
            interval=self.trickle_interval_s,
            sample_body=good,
            sample_events=events,
        )

    async def _sse(self, request: web.Request, events: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers=_SSE_HEADERS)
        await resp.prepare(request)
        if self.chunk_delay_s:
            for event in events:
                await resp.write(event)
                await asyncio.sleep(self.chunk_delay_s)
        else:
            await resp.write(b"".join(events))
        self._stats.successes += 1
        return resp

    def _ok(self, body: dict[str, Any]) -> web.Response:
        self._stats.successes += 1
        return _json(body)

    # ----------------------------------------------------------------- endpoints
    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        self._stats.begin(request.path, request.transport)
        started = time.perf_counter()
        conversation: str | None = None
        try:
            body = await self._read(request, "openai")
            self._validate_chat(body)
            messages = [
                m if isinstance(m.get("content"), str) else {**m, "content": message_text(m)}
                for m in body.get("messages") or []
                if isinstance(m, dict)
            ]
            answer = self._answer(messages, "openai")
            model = body.get("model") or self.model
            serial = next(self._serial)
            completion = openai_completion(
                messages,
                answer,
                model=model,
                serial=serial,
                usage=self.usage,
                cache_ratio=self.cache_ratio,
            )
            events: list[bytes] | None = None
            if body.get("stream"):
                include = (
                    bool((body.get("stream_options") or {}).get("include_usage")) and self.usage
                )
                events = openai_sse(
                    messages,
                    answer,
                    model=model,
                    serial=serial,
                    include_usage=include,
                    cache_ratio=self.cache_ratio,
                )
            conversation = _conversation_id(request, messages)
            fault = await self._gate(request, conversation, "openai", completion, events)
            if fault is not None:
                return fault
            if events is not None:
                return await self._sse(request, events)
            return self._ok(completion)
        except _BadRequest as bad:
            return bad.response
        finally:
            if conversation is not None:
                self._stats.handled(conversation, (time.perf_counter() - started) * 1000.0)
            self._stats.end()

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self._stats.begin("/v1/messages", request.transport)
        try:
            body = await self._read(request, "anthropic")
            messages = anthropic_to_chat(body)
            answer = self._answer(messages, "anthropic")
            message = anthropic_message(
                messages,
                answer,
                model=body.get("model") or self.model,
                serial=next(self._serial),
                cache_ratio=self.cache_ratio,
            )
            events = anthropic_sse(message) if body.get("stream") else None
            fault = await self._gate(
                request, _conversation_id(request, messages), "anthropic", message, events
            )
            if fault is not None:
                return fault
            if events is not None:
                return await self._sse(request, events)
            return self._ok(message)
        except _BadRequest as bad:
            return bad.response
        finally:
            self._stats.end()

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        self._stats.begin("/v1/embeddings")
        try:
            body = await self._read(request, "openai")
            result = embeddings_body(body, model=body.get("model") or self.model)
            fault = await self._gate(
                request, _conversation_id(request, body.get("input")), "openai", result
            )
            return fault if fault is not None else self._ok(result)
        except _BadRequest as bad:
            return bad.response
        finally:
            self._stats.end()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        """Session chatbot: ``{"message", "session_id"}`` -> ``{"reply", "session_id", "turn"}``."""
        self._stats.begin("/chat")
        try:
            body = await self._read(request, "openai")
            text = body.get("message")
            if not isinstance(text, str):
                err = error_json(400, "'message' (string) is required", flavor="openai")
                return web.Response(status=400, body=err, content_type="application/json")
            given = str(body["session_id"]) if body.get("session_id") else None
            history = [*self._sessions.get(given or "", []), {"role": "user", "content": text}]
            answer = self._answer(history, "openai")
            turn = sum(1 for m in history if m["role"] == "user")
            session = given or f"session-{next(self._session_serial)}"
            result = {
                "reply": f"{answer['content']} (turn {turn})",
                "session_id": session,
                "turn": turn,
            }
            conversation = _conversation_id(request, [given, turn, text])
            fault = await self._gate(request, conversation, "openai", result)
            if fault is not None:
                return fault
            history.append({"role": "assistant", "content": answer["content"]})
            self._sessions[session] = history
            return self._ok(result)
        except _BadRequest as bad:
            return bad.response
        finally:
            self._stats.end()

    async def _models(self, request: web.Request) -> web.Response:
        return _json(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "test"}]}
        )

    async def _get_stats(self, request: web.Request) -> web.Response:
        return _json(self._stats.snapshot().as_dict())

    async def _post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json({"ok": True})
