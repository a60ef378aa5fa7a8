"""The Metric protocol: options, the per-record input, the context and the base class.

A metric is stateless: ``score(item)`` returns a ``Score`` (sync or async) and never stores
results on ``self``. The evaluator builds one ``MetricInput`` per record (and per turn of a
multi-turn record) and calls every metric on it.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeVar as DefaultedTypeVar

from chatbot_tester.common.config import JudgeConfig
from chatbot_tester.common.schemas import SCHEMA_VERSION, Message, RunRecord, Score, TestSample
from chatbot_tester.common.trusted import trusted

__all__ = [
    "Metric",
    "MetricContext",
    "MetricInput",
    "MetricOptions",
    "OptionsT",
]


class MetricOptions(BaseModel):
    """Base of every metric's options: unknown options are errors."""

    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False)

    threshold: float | None = Field(default=None)
    """Pass when the value reaches this (metrics with a natural pass/fail ignore it unless set)."""


OptionsT = DefaultedTypeVar("OptionsT", bound=MetricOptions, default=MetricOptions, covariant=True)
"""The options model of a metric (``Metric[MyOptions]`` types ``self.options``).

Covariant: options are only read, so a ``Metric[MyOptions]`` is a ``Metric``.
"""


@dataclass(frozen=True)
class MetricInput:
    """Everything a metric may look at for one record, or one turn of it."""

    sample: TestSample
    record: RunRecord
    output: str | None
    """The answer text under test (``None`` when the record is an error)."""
    expected: list[str]
    """Reference answers for this sample (or this turn)."""
    turn: int | None = None
    """Turn index when scoring one turn of a multi-turn sample, else ``None``."""
    conversation: list[Message] = field(default_factory=list)
    """The conversation up to and including the answer under test."""

    @property
    def input_text(self) -> str:
        """The last user message before the answer."""
        for msg in reversed(self.conversation):
            if msg.role == "user":
                return msg.content
        return ""


@dataclass
class MetricContext:
    """What metrics may need from the evaluation: judge defaults, caches, paths."""

    judge: JudgeConfig | None = None
    """The pipeline's default judge backend."""
    workspace_dir: Path | None = None
    """Workspace root (for caches); ``None`` disables on-disk caches."""
    base_dir: Path = field(default_factory=Path.cwd)
    """Directory relative paths in metric options refer to."""
    cache: bool = True
    """Whether judge verdicts may be cached."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Shared resources keyed by name (e.g. rate limiters), owned by the evaluator."""


_TURN_TYPES = (int, type(None))
_MADE = frozenset(
    ("sample_id", "repeat", "turn", "metric", "value", "passed", "reason", "error", "details")
)


class Metric(ABC, Generic[OptionsT]):
    """Base class of metrics, generic over the options model.

    Subclasses set ``Options`` to their pydantic options model, name it as the type parameter
    (``class MyMetric(Metric[MyOptions])``, so ``self.options`` is typed) and implement ``score``.
    """

    Options: ClassVar[type[MetricOptions]] = MetricOptions
    """Pydantic model validating the metric's options."""
    description: ClassVar[str] = ""
    """One line shown by ``chatbot-tester metrics``."""
    per_turn: ClassVar[bool] = True
    """Whether the metric also scores each turn of multi-turn samples."""
    direction: ClassVar[Literal["higher", "lower"]] = "higher"
    """Whether a higher value is better (quality scores) or a lower one (latency, cost)."""

    def __init__(self, options: OptionsT, *, name: str, context: MetricContext) -> None:
        self.options: OptionsT = options
        self.name = name
        self.context = context

    @abstractmethod
    def score(self, item: MetricInput) -> Score | Awaitable[Score]:
        """Score one record (or one turn). May be sync or async."""

    async def ascore(self, item: MetricInput) -> Score:
        """``score`` normalised to async; errors become a ``Score`` with ``error`` set."""
        try:
            result = self.score(item)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # a metric bug must not lose the other scores
            return self.make(item, error=f"{type(exc).__name__}: {exc}")
        assert isinstance(result, Score)
        return result

    def make(
        self,
        item: MetricInput,
        value: float | None = None,
        passed: bool | None = None,
        *,
        reason: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Score:
        """Build a Score for ``item``; applies ``options.threshold`` when ``passed`` is None."""
        threshold = getattr(self.options, "threshold", None)
        if passed is None and value is not None and threshold is not None:
            passed = value >= threshold
        record = item.record
        if (
            (value is None or type(value) is float)
            and (passed is None or passed is True or passed is False)
            and (reason is None or type(reason) is str)
            and (error is None or type(error) is str)
            and (not details or (type(details) is dict and all(type(k) is str for k in details)))
            and type(record.sample_id) is str
            and type(record.repeat) is int
            and type(item.turn) in _TURN_TYPES
            and type(self.name) is str
        ):
            # the Score validation would give (see ``common.trusted``), at ~40% of its cost
            return trusted(
                Score,
                {
                    "schema_version": SCHEMA_VERSION,
                    "sample_id": record.sample_id,
                    "repeat": record.repeat,
                    "turn": item.turn,
                    "metric": self.name,
                    "value": value,
                    "passed": passed,
                    "reason": reason,
                    "error": error,
                    "details": dict(details) if details else {},
                    "fingerprint": None,
                },
                _MADE,
            )
        return Score(
            sample_id=record.sample_id,
            repeat=record.repeat,
            turn=item.turn,
            metric=self.name,
            value=value,
            passed=passed,
            reason=reason,
            error=error,
            details=details or {},
        )

    async def aclose(self) -> None:
        """Release resources (judge backends, caches)."""
        return None
