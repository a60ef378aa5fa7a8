"""What the ``ct_backend`` and ``ct_evaluate`` fixtures hand to a test: synchronous handles."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message
from chatbot_tester.orchestrator.blocking import run_blocking
from chatbot_tester.orchestrator.in_memory import (
    Answers,
    MetricLike,
    SampleLike,
    evaluate,
)
from chatbot_tester.orchestrator.in_memory_result import EvaluationResult

__all__ = ["BackendHandle", "Evaluator"]


class BackendHandle:
    """The pipeline's chatbot, called synchronously from a test.

    ``handle("question")`` returns the answer text and ``handle.send(request)`` the whole
    ``ChatResponse``. Each call creates the backend from ``runner`` (options, model, params,
    system prompt), sends once (no retries: a fault is the test's failure) and closes it.
    """

    def __init__(self, pipeline: PipelineConfig) -> None:
        self.pipeline = pipeline

    def request(self, prompt: str) -> ChatRequest:
        """The request the runner would send for a one-turn ``prompt``."""
        runner = self.pipeline.runner.resolved()
        messages = (
            [Message(role="system", content=runner.system_prompt)] if runner.system_prompt else []
        )
        messages.append(Message(role="user", content=prompt))
        return ChatRequest(messages=messages, model=runner.model, params=dict(runner.params))

    def send(self, request: ChatRequest | str) -> ChatResponse:
        """Send ``request`` (or a prompt) and return the response."""
        from chatbot_tester.common.backends import backend_registry

        runner = self.pipeline.runner
        req = self.request(request) if isinstance(request, str) else request

        async def once() -> ChatResponse:
            backend = backend_registry.create(
                runner.backend, base_dir=self.pipeline.base_dir, **runner.resolved_options()
            )
            try:
                return await backend.send(req)
            finally:
                await backend.aclose()

        return run_blocking(lambda: asyncio.run(once()))

    def __call__(self, prompt: str) -> str:
        """The answer text to ``prompt``."""
        return self.send(prompt).text


class Evaluator:
    """``chatbot_tester.evaluate`` with the pipeline's chatbot and metrics as defaults."""

    def __init__(self, pipeline: Callable[[], PipelineConfig]) -> None:
        self._pipeline = pipeline

    def __call__(
        self,
        samples: Iterable[SampleLike],
        answers_or_backend: Answers | None = None,
        metrics: Iterable[MetricLike] | None = None,
        *,
        thresholds: Sequence[str] = (),
        **kwargs: Any,
    ) -> EvaluationResult:
        """Evaluate ``samples``; a default left out is read from the pipeline."""
        answers, specs = answers_or_backend, metrics
        if answers is None or specs is None:
            config = self._pipeline()
            kwargs.setdefault("base_dir", config.base_dir)
            answers = config.runner if answers is None else answers
            specs = config.evaluator.metrics if specs is None else specs
        return evaluate(samples, answers, specs, thresholds=thresholds, **kwargs)
