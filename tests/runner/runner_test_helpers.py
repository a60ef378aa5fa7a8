"""Helpers for the runner tests: configs pointing at loopback servers, datasets, a status server."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.runner import read_records

API_KEY = "test-key-123456"


def openai_config(base_url: str, **overrides: Any) -> RunnerConfig:
    """A runner config for the openai backend against a loopback server (sample id header on)."""
    options = {"base_url": base_url, "api_key": API_KEY, "sample_id_header": "X-Sample-Id"}
    options.update(overrides.pop("options", {}))
    data: dict[str, Any] = {
        "backend": "openai",
        "model": "test-model",
        "options": options,
        "concurrency": 4,
        "timeout_s": 5.0,
        "retries": 3,
        "backoff": {"initial_s": 0.01, "max_s": 0.05},
    }
    data.update(overrides)
    return RunnerConfig.model_validate(data)


def samples(n: int, prefix: str = "s") -> list[TestSample]:
    return [TestSample(id=f"{prefix}{i}", input=f"question {i}") for i in range(n)]


def write_dataset(path: Path, items: Iterable[TestSample]) -> Path:
    with open(path, "wb") as fh:
        for item in items:
            fh.write(item.model_dump_json(exclude_defaults=True).encode() + b"\n")
    return path


def keys(path: Path) -> list[tuple[str, int]]:
    """Every (sample_id, repeat) line of a results file, duplicates kept, in file order."""
    out = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            obj = orjson.loads(line)
            out.append((obj["sample_id"], obj.get("repeat", 0)))
    return out


def records(path: Path) -> dict[tuple[str, int], Any]:
    return {(r.sample_id, r.repeat): r for r in read_records(path)}


class StatusServer:
    """An OpenAI-shaped loopback server answering each sample id with a scripted status sequence.

    ``script[sample_id]`` is a list of ``(status, headers, body)`` used for the first attempts of
    that sample; later attempts get a normal completion. Attempts are counted per sample id.
    """

    def __init__(self, script: dict[str, list[tuple[int, dict[str, str], str]]]) -> None:
        self.script = script
        self.attempts: dict[str, int] = {}
        self.times: dict[str, list[float]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.Response:
        import time

        sid = request.headers.get("X-Sample-Id", "?")
        n = self.attempts.get(sid, 0)
        self.attempts[sid] = n + 1
        self.times.setdefault(sid, []).append(time.monotonic())
        plan = self.script.get(sid, [])
        if n < len(plan):
            status, headers, body = plan[n]
            return web.Response(
                status=status, headers=headers, body=body, content_type="application/json"
            )
        data = await request.json()
        text = data["messages"][-1]["content"]
        payload = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": data.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"echo: {text}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
        return web.json_response(payload)

    async def __aenter__(self) -> StatusServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def error_body(message: str, code: str | None = None) -> str:
    return orjson.dumps({"error": {"message": message, "type": "error", "code": code}}).decode()
