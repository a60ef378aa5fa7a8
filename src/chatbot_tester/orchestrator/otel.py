"""OpenTelemetry tracing as an event subscriber (extra ``otel``), exported over OTLP/HTTP.

Name it in the pipeline, ``subscribers: ["chatbot_tester.orchestrator.otel:subscriber"]``, or
with ``run --subscriber chatbot_tester.orchestrator.otel:subscriber``. Each run is a root span
``chatbot_tester.run``; each sample sent to the chatbot is a child span
``chatbot_tester.sample`` holding one ``chat <model>`` client span per backend call actually
made: every attempt (a retried sample has one span per try, the failed ones with
``error.type``) of every turn (a multi-turn sample has one per turn), each with its own
times and the GenAI semantic conventions (``gen_ai.operation.name``, ``gen_ai.system``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens``,
``gen_ai.usage.output_tokens``, ``error.type``). The sample span starts with its first
call. Spans carry ids, models, counts and timings, never prompts or answers.

Per-call spans come from ``CallFinished`` events, which the backend client builds only for
a subscriber with ``wants_call_events = True`` (this one), so runs without it pay nothing.
A cache hit makes no call and gets no ``chat`` span; samples run in other processes
(``executor: ray``, shards) fall back to one ``chat`` span built from the sample's totals.

The endpoint comes from the standard variables (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``); nothing is sent unless the subscriber is
named. Spans are flushed when the run finishes.
"""

from __future__ import annotations

import time
from typing import Any

from chatbot_tester.common.events import (
    CallFinished,
    Event,
    ItemFinished,
    RunFinished,
    RunStarted,
)
from chatbot_tester.errors import PluginError

__all__ = ["OtelSubscriber", "subscriber"]


class OtelSubscriber:
    """Turns run events into spans on its own tracer provider (the global one is untouched)."""

    wants_call_events = True
    """Ask the bus for ``CallFinished`` (one per backend attempt)."""

    def __init__(self, endpoint: str | None = None, service_name: str = "chatbot-tester") -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            raise PluginError(
                "the OpenTelemetry subscriber needs the otel extra: "
                "pip install 'chatbot-tester[otel]'"
            ) from None
        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("chatbot_tester")
        self._run: Any = None
        self._run_id: str | None = None
        self._calls: dict[tuple[str, int], list[CallFinished]] = {}

    def __call__(self, event: Event) -> None:
        """Start, add to or end the run's trace."""
        if isinstance(event, RunStarted):
            self._run_id = event.run_id
            self._run = self._tracer.start_span(
                "chatbot_tester.run",
                attributes={
                    "chatbot_tester.run.id": event.run_id,
                    "chatbot_tester.pipeline": event.pipeline,
                },
            )
        elif type(event) is CallFinished:
            if event.stage == "run" and self._run is not None:
                key = (event.item_id, event.repeat or 0)
                self._calls.setdefault(key, []).append(event)
        elif type(event) is ItemFinished and event.stage == "run" and self._run is not None:
            self._sample(event, self._pop_calls(event.item_id))
        elif isinstance(event, RunFinished) and self._run is not None:
            self._run.set_attribute("chatbot_tester.run.status", event.status)
            self._run.end()
            self._run = None
            self._calls.clear()
            self._provider.force_flush()
            self._provider.shutdown()

    def _pop_calls(self, item_id: str) -> list[CallFinished]:
        """The attempts of sample ``item_id`` (``id`` or, with repeats, ``id#repeat``)."""
        calls = self._calls.pop((item_id, 0), None)
        if calls is None and "#" in item_id:
            sample_id, _, repeat = item_id.rpartition("#")
            if repeat.isdigit():
                calls = self._calls.pop((sample_id, int(repeat)), None)
        return calls or []

    def _sample(self, event: ItemFinished, calls: list[CallFinished]) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        end = time.time_ns()
        if calls:
            start = min(c.start_ns for c in calls)
            end = max(end, max(c.end_ns for c in calls))
        else:
            start = end - int((event.latency_ms or 0.0) * 1_000_000)
        sample = self._tracer.start_span(
            "chatbot_tester.sample",
            context=trace.set_span_in_context(self._run),
            start_time=start,
            attributes={
                "chatbot_tester.sample.id": event.item_id,
                "chatbot_tester.run.id": self._run_id or "",
                "chatbot_tester.cached": event.cached,
                "chatbot_tester.calls": len(calls),
            },
        )
        parent = trace.set_span_in_context(sample)
        for call in calls:
            self._call_span(parent, call)
        if not calls and not event.cached:  # made elsewhere (ray, shards): one span of totals
            self._call_span(
                parent,
                CallFinished(
                    "run",
                    event.item_id,
                    1,
                    event.ok,
                    start,
                    end,
                    error_kind=None if event.ok else (event.error_kind or "error"),
                    backend=event.backend,
                    model=event.model,
                    input_tokens=event.input_tokens,
                    output_tokens=event.output_tokens,
                ),
            )
        if not event.ok:
            sample.set_attribute("error.type", event.error_kind or "error")
            sample.set_status(Status(StatusCode.ERROR, event.error_kind or "error"))
        sample.end(end_time=end)

    def _call_span(self, parent: Any, call: CallFinished) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": call.backend or "unknown",
            "chatbot_tester.attempt": call.attempt,
        }
        if call.turn is not None:
            attributes["chatbot_tester.turn"] = call.turn
        if call.model:
            attributes["gen_ai.request.model"] = call.model
        if call.response_model:
            attributes["gen_ai.response.model"] = call.response_model
        if call.input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = call.input_tokens
        if call.output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = call.output_tokens
        span = self._tracer.start_span(
            f"chat {call.model}" if call.model else "chat",
            context=parent,
            start_time=call.start_ns,
            attributes=attributes,
            kind=trace.SpanKind.CLIENT,
        )
        if not call.ok:
            span.set_attribute("error.type", call.error_kind or "error")
            span.set_status(Status(StatusCode.ERROR, call.error_kind or "error"))
        span.end(end_time=max(call.end_ns, call.start_ns))


def subscriber() -> OtelSubscriber:
    """The factory for ``subscribers:`` / ``--subscriber`` (endpoint from ``OTEL_*`` variables)."""
    return OtelSubscriber()
