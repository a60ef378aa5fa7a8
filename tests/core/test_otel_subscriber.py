"""OpenTelemetry subscriber: spans exported over OTLP/HTTP to a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chatbot_tester import run_pipeline


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver (POST /v1/traces, protobuf) in its own thread."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        self.requests.append(message)
        return web.Response(body=b"", content_type="application/x-protobuf")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def spans(self) -> list[Any]:
        return [
            span
            for req in self.requests
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]


def _attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which)
    return out


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def test_spans_per_run_sample_and_call_reach_the_otlp_receiver(
    tmp_path: Path, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
    (tmp_path / "raw.csv").write_text("id,question,answer\na,hello,hello\nb,bye,nope\n")
    (tmp_path / "pipeline.yaml").write_text(
        "name: traced\nworkspace: ./ws\ngenerator: {source: raw.csv}\n"
        "runner: {backend: echo, model: echo-1}\n"
        "subscribers: ['chatbot_tester.orchestrator.otel:subscriber']\n"
        "evaluator: {metrics: [{type: exact_match}], report: {formats: [json]}}\n"
    )
    result = run_pipeline(tmp_path / "pipeline.yaml")
    spans = receiver.spans()
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    (run,) = by_name["chatbot_tester.run"]
    assert _attrs(run)["chatbot_tester.run.id"] == result.run_id
    assert _attrs(run)["chatbot_tester.run.status"] == "completed"
    samples = by_name["chatbot_tester.sample"]
    assert sorted(_attrs(s)["chatbot_tester.sample.id"] for s in samples) == ["a", "b"]
    assert all(s.parent_span_id == run.span_id and s.trace_id == run.trace_id for s in samples)
    calls = by_name["chat echo-1"]
    assert len(calls) == 2
    sample_ids = {s.span_id for s in samples}
    for call in calls:
        attrs = _attrs(call)
        assert call.parent_span_id in sample_ids
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.system"] == "echo"
        assert attrs["gen_ai.request.model"] == "echo-1"
        assert attrs["gen_ai.usage.input_tokens"] > 0
        assert attrs["gen_ai.usage.output_tokens"] > 0
        assert call.end_time_unix_nano >= call.start_time_unix_nano
    text = str(spans)
    assert "hello" not in text and "bye" not in text  # no prompts or answers in spans
