"""OpenTelemetry tracing as an event subscriber (extra ``otel``), exported over OTLP/HTTP.

Name it in the pipeline, ``subscribers: ["chatbot_tester.orchestrator.otel:subscriber"]``, or
with ``run --subscriber chatbot_tester.orchestrator.otel:subscriber``. Each run is a root span
``chatbot_tester.run``; each sample sent to the chatbot is a child span
``chatbot_tester.sample`` holding one ``chat <model>`` span for the backend call, with the
GenAI semantic conventions (``gen_ai.operation.name``, ``gen_ai.system``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
``error.type``). Spans carry ids, models, counts and timings, never prompts or answers.

The endpoint comes from the standard variables (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``); nothing is sent unless the subscriber is
named. Spans are flushed when the run finishes.
"""

from __future__ import annotations

import time
from typing import Any

from chatbot_tester.common.events import Event, ItemFinished, RunFinished, RunStarted
from chatbot_tester.errors import PluginError

__all__ = ["OtelSubscriber", "subscriber"]


class OtelSubscriber:
    """Turns run events into spans on its own tracer provider (the global one is untouched)."""

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
        elif type(event) is ItemFinished and event.stage == "run" and self._run is not None:
            self._sample(event)
        elif isinstance(event, RunFinished) and self._run is not None:
            self._run.set_attribute("chatbot_tester.run.status", event.status)
            self._run.end()
            self._run = None
            self._provider.force_flush()
            self._provider.shutdown()

    def _sample(self, event: ItemFinished) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        end = time.time_ns()
        start = end - int((event.latency_ms or 0.0) * 1_000_000)
        sample = self._tracer.start_span(
            "chatbot_tester.sample",
            context=trace.set_span_in_context(self._run),
            start_time=start,
            attributes={
                "chatbot_tester.sample.id": event.item_id,
                "chatbot_tester.run.id": self._run_id or "",
                "chatbot_tester.cached": event.cached,
            },
        )
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": event.backend or "unknown",
        }
        if event.model:
            attributes["gen_ai.request.model"] = event.model
        if event.input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = event.input_tokens
        if event.output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = event.output_tokens
        call = self._tracer.start_span(
            f"chat {event.model}" if event.model else "chat",
            context=trace.set_span_in_context(sample),
            start_time=start,
            attributes=attributes,
            kind=trace.SpanKind.CLIENT,
        )
        if not event.ok:
            for span in (call, sample):
                span.set_attribute("error.type", event.error_kind or "error")
                span.set_status(Status(StatusCode.ERROR, event.error_kind or "error"))
        call.end(end_time=end)
        sample.end(end_time=end)


def subscriber() -> OtelSubscriber:
    """The factory for ``subscribers:`` / ``--subscriber`` (endpoint from ``OTEL_*`` variables)."""
    return OtelSubscriber()
