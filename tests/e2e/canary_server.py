"""A loopback chatbot and judge that echo the caller's API key back (for the canary test).

``POST /v1/chat/completions`` (OpenAI shape, also the http backend's default) and
``POST /v1/messages`` (Anthropic shape) answer with the key from ``Authorization`` /
``x-api-key`` quoted several ways. A question containing ``FAIL`` gets a 500 whose body
holds the key. Judge models: ``judge-json`` returns a verdict whose reason holds the key,
``judge-text`` a reply that is not JSON at all (the key in it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def echo_text(key: str, question: str) -> str:
    """An answer that quotes ``key`` raw, lowercased, upper-cased and JSON-escaped."""
    return (
        f"Answer to {question}. Your key is {key}, lower {key.lower()}, "
        f"UPPER {key.upper()}, json {json.dumps(key)} end."
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _key(self) -> str:
        auth = self.headers.get("Authorization") or ""
        return auth.removeprefix("Bearer ").strip() or (self.headers.get("x-api-key") or "")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        key = self._key()
        messages = request.get("messages") or []
        last = messages[-1].get("content") if messages else ""
        question = last if isinstance(last, str) else json.dumps(last)
        model = request.get("model") or ""
        if "FAIL" in question and not model.startswith("judge"):
            self._send(500, {"error": {"message": f"server error for key {key}", "type": "x"}})
            return
        if model == "judge-json":
            text = json.dumps({"score": 5, "reason": f"fine, and the key is {key} ({key.lower()})"})
        elif model == "judge-text":
            text = f"I refuse to answer in JSON. Key: {key}"
        else:
            text = echo_text(key, question[:40])
        if self.path.endswith("/messages"):
            self._send(
                200,
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 7},
                },
            )
            return
        self._send(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            },
        )


@contextmanager
def canary_server() -> Iterator[str]:
    """Serve on 127.0.0.1 in a thread; yields the base URL (``http://127.0.0.1:PORT``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
