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
    (log,) = (tmp_path / "ws").rglob("events.jsonl")
    assert '"ItemFinished"' in log.read_text() and "CallFinished" not in log.read_text()


def _by_name(spans: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for span in spans:
        out.setdefault(span.name, []).append(span)
    return out


async def _traced_run(
    receiver: OtlpReceiver, tmp_path: Path, items: list[Any], runner: dict[str, Any]
):
    from chatbot_tester.common.config import RunnerConfig
    from chatbot_tester.common.events import EventBus, RunFinished, RunStarted
    from chatbot_tester.orchestrator.otel import OtelSubscriber
    from chatbot_tester.runner import run_job

    seen: list[Any] = []
    bus = EventBus()
    bus.subscribe(OtelSubscriber(endpoint=f"http://127.0.0.1:{receiver.port}/v1/traces"))
    bus.subscribe(seen.append)  # a plain subscriber: never handed a CallFinished
    assert bus.wants_call_events
    bus.emit(RunStarted("r1", "traced"))
    config = RunnerConfig.model_validate(
        {"backoff": {"initial_s": 0.01, "max_s": 0.02}, "retries": 3, **runner}
    )
    summary = await run_job(items, config, tmp_path / "results.jsonl", bus=bus)
    bus.emit(RunFinished("r1", "completed"))
    await bus.aclose()
    assert not [e for e in seen if type(e).__name__ == "CallFinished"]
    return summary, _by_name(receiver.spans())


async def test_a_retried_sample_has_one_client_span_per_attempt(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    from chatbot_tester.common.schemas import TestSample

    items = [TestSample(id="flaky", input="first try fails"), TestSample(id="calm", input="fine")]
    runner = {
        "backend": "scripted",
        "model": "m-1",
        "options": {
            "default": "an answer",
            "fail": [{"contains": "fails", "error": "http_500", "times": 1}],
        },
    }
    summary, spans = await _traced_run(receiver, tmp_path, items, runner)
    assert summary.ok == 2
    (run,) = spans["chatbot_tester.run"]
    samples = {_attrs(s)["chatbot_tester.sample.id"]: s for s in spans["chatbot_tester.sample"]}
    calls = spans["chat m-1"]
    assert len(calls) == 3  # flaky: 2 attempts, calm: 1
    assert all(s.trace_id == run.trace_id for s in [*samples.values(), *calls])
    assert all(s.parent_span_id == run.span_id for s in samples.values())
    flaky = sorted(
        (c for c in calls if c.parent_span_id == samples["flaky"].span_id),
        key=lambda c: c.start_time_unix_nano,
    )
    assert [_attrs(c)["chatbot_tester.attempt"] for c in flaky] == [1, 2]
    failed, good = (_attrs(c) for c in flaky)
    assert failed["error.type"] == "http"
    assert "error.type" not in good
    assert "gen_ai.usage.input_tokens" not in failed
    assert good["gen_ai.usage.output_tokens"] == 2  # "an answer", counted in words
    assert good["gen_ai.system"] == "scripted" and good["gen_ai.request.model"] == "m-1"
    assert flaky[0].end_time_unix_nano <= flaky[1].start_time_unix_nano  # backoff in between
    assert samples["flaky"].start_time_unix_nano == flaky[0].start_time_unix_nano
    assert _attrs(samples["flaky"])["chatbot_tester.calls"] == 2
    assert "error.type" not in _attrs(samples["flaky"])  # the sample succeeded in the end


async def test_a_two_turn_sample_has_one_client_span_per_turn(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    from chatbot_tester.common.schemas import TestSample, Turn

    item = TestSample(id="conv", turns=[Turn(user="hi"), Turn(user="and what about this")])
    runner = {"backend": "echo", "model": "echo-1"}
    summary, spans = await _traced_run(receiver, tmp_path, [item], runner)
    assert summary.ok == 1
    (run,) = spans["chatbot_tester.run"]
    (sample,) = spans["chatbot_tester.sample"]
    calls = sorted(spans["chat echo-1"], key=lambda c: c.start_time_unix_nano)
    assert len(calls) == 2
    assert all(c.parent_span_id == sample.span_id for c in calls)
    assert {c.trace_id for c in [run, sample, *calls]} == {run.trace_id}
    first, second = (_attrs(c) for c in calls)
    assert (first["chatbot_tester.turn"], second["chatbot_tester.turn"]) == (0, 1)
    # echo counts words: turn 1 sends "hi" (1), turn 2 the history + 4 words (1 + 1 + 4)
    assert (first["gen_ai.usage.input_tokens"], first["gen_ai.usage.output_tokens"]) == (1, 1)
    assert (second["gen_ai.usage.input_tokens"], second["gen_ai.usage.output_tokens"]) == (6, 4)
    assert second["gen_ai.response.model"] == "echo-1"
    assert calls[0].end_time_unix_nano <= calls[1].start_time_unix_nano
    assert sample.start_time_unix_nano == calls[0].start_time_unix_nano
    assert sample.end_time_unix_nano >= calls[1].end_time_unix_nano


def test_call_events_go_only_to_subscribers_that_ask() -> None:
    from chatbot_tester.common.events import CallFinished, EventBus

    plain: list[Any] = []
    asking: list[Any] = []

    class Asking:
        wants_call_events = True

        def __call__(self, event: Any) -> None:
            asking.append(event)

    bus = EventBus()
    bus.subscribe(plain.append)
    assert not bus.wants_call_events
    sub = Asking()
    bus.subscribe(sub)
    assert bus.wants_call_events
    event = CallFinished("run", "a", 1, True, 1, 2)
    bus.emit_call(event)
    assert asking == [event] and plain == []
    bus.unsubscribe(sub)
    assert not bus.wants_call_events
