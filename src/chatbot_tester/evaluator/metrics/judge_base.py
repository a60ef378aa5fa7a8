"""What every LLM-judge metric shares: backend override options, the pooled client, data blocks."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from typing_extensions import TypeVar as DefaultedTypeVar

from chatbot_tester.common.config import JudgeConfig
from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.metrics.base import Metric, MetricContext, MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.judge_client import (
    JudgeClient,
    JudgePool,
    resolve_judge_config,
)
from chatbot_tester.evaluator.metrics.judge_prompt import DataBlock

__all__ = ["JudgeBackendOptions", "JudgeMetricBase", "JudgeOptionsT", "data_blocks"]


class JudgeBackendOptions(MetricOptions):
    """Per-metric judge overrides; unset fields fall back to ``evaluator.judge``."""

    backend: str | None = None
    """Judge backend name (default: evaluator.judge.backend)."""
    model: str | None = None
    """Judge model (default: evaluator.judge.model)."""
    options: dict[str, Any] | None = None
    """Judge backend options (merged over evaluator.judge.options for the same backend)."""
    params: dict[str, Any] | None = None
    """Sampling parameters (merged over evaluator.judge.params)."""
    include_context: bool = True
    """Show the sample's context documents to the judge."""
    max_chars: int = Field(default=20_000, ge=100)
    """Longest text of one data block shown to the judge (longer text is cut, with a note)."""


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters not shown]"


def _transcript(item: MetricInput) -> str | None:
    """Earlier turns of a multi-turn conversation (the answer under test excluded)."""
    messages = list(item.conversation)
    if messages and messages[-1].role == "assistant":
        messages = messages[:-1]
    if sum(1 for m in messages if m.role == "user") < 2:
        return None
    return "\n".join(f"{m.role}: {m.content}" for m in messages[:-1])


def data_blocks(
    item: MetricInput,
    *,
    include_context: bool,
    max_chars: int,
    answer: str | None = None,
    reference: bool = True,
) -> list[DataBlock]:
    """The untrusted material for the judge: conversation, question, context, reference, answer."""
    blocks: list[DataBlock] = []
    history = _transcript(item)
    if history:
        blocks.append(DataBlock("conversation_so_far", _clip(history, max_chars)))
    question = item.input_text
    if question:
        blocks.append(DataBlock("question", _clip(question, max_chars)))
    if include_context and item.sample.context:
        blocks.append(
            DataBlock("context", _clip("\n\n---\n\n".join(item.sample.context), max_chars))
        )
    if reference and item.expected:
        blocks.append(
            DataBlock("reference_answer", _clip("\n\n---\n\n".join(item.expected), max_chars))
        )
    if answer is not None:
        blocks.append(DataBlock("answer", _clip(answer, max_chars)))
    return blocks


JudgeOptionsT = DefaultedTypeVar(
    "JudgeOptionsT", bound=JudgeBackendOptions, default=JudgeBackendOptions, covariant=True
)
"""The options model of a judge metric (``JudgeMetricBase[MyOptions]``)."""


class JudgeMetricBase(Metric[JudgeOptionsT]):
    """Base of judge metrics: resolves the judge at creation, shares the client, releases it."""

    per_turn: ClassVar[bool] = False

    def __init__(self, options: JudgeOptionsT, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        self.judge_config: JudgeConfig = resolve_judge_config(
            context,
            backend=options.backend,
            model=options.model,
            options=options.options,
            params=options.params,
            metric=name,
        )
        self._pool = JudgePool.of(context)
        self._client: JudgeClient | None = self._pool.acquire(self.judge_config)

    @property
    def client(self) -> JudgeClient:
        """The pooled judge client (RuntimeError after ``aclose``)."""
        if self._client is None:
            raise RuntimeError(f"metric '{self.name}' was closed")
        return self._client

    def judge_details(self) -> dict[str, Any]:
        """Which judge gave the verdict (for ``Score.details``)."""
        return {"backend": self.judge_config.backend, "model": self.judge_config.model}

    def no_answer(self, item: MetricInput) -> Score:
        """The error score for a record without an answer (never a 0)."""
        return self.make(item, error="no answer to judge")

    async def aclose(self) -> None:
        """Release the pooled client (the last metric closes the backend and cache)."""
        client, self._client = self._client, None
        if client is not None:
            await self._pool.release(client)
