"""A pipeline file as a pytest collector, and one item per sample of its dataset.

The samples come from ``generator.source`` (read and validated as ``generate`` reads it,
nothing written). Running an item sends that one sample (with ``runner.repeat`` repeats) to
the pipeline's chatbot through the runner (retries, timeouts, system prompt, params) and
scores it with the pipeline's metrics and the sample's assertions (``chatbot_tester.evaluate``).
The item passes when every repeat was answered and every score passed; pipeline-level gates
(``evaluator.thresholds``) are a property of the whole run and stay with ``chatbot-tester run``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import ChatbotTesterError
from chatbot_tester.orchestrator.in_memory_result import SampleResult

__all__ = ["PipelineFile", "SampleFailed", "SampleItem", "load_pipeline_config", "pipeline_samples"]


@functools.lru_cache(maxsize=32)
def load_pipeline_config(path: Path) -> PipelineConfig:
    """The pipeline at ``path`` with its plugins imported (once per session and path)."""
    from chatbot_tester.common.plugins import load_config

    try:
        return load_config(path)
    except ChatbotTesterError as exc:
        raise pytest.UsageError(f"{path}: {exc}") from None


def pipeline_samples(path: Path) -> list[TestSample]:
    """The samples of the pipeline's ``generator.source``, validated."""
    from chatbot_tester.generator import load_samples

    config = load_pipeline_config(path)
    if config.generator.source is None:
        raise pytest.UsageError(
            f"{path}: the pytest plugin reads generator.source; this pipeline only generates "
            "synthetic samples (write them once with `chatbot-tester generate -o dataset.jsonl` "
            "and point generator.source at that file)"
        )
    try:
        return list(load_samples(config.generator, config.base_dir))
    except ChatbotTesterError as exc:
        raise pytest.UsageError(str(exc)) from None


class SampleFailed(Exception):
    """A sample did not pass; the message is its explanation."""


class PipelineFile(pytest.File):
    """A ``--ct-pipeline`` YAML file: one ``SampleItem`` per sample, in dataset order."""

    def collect(self) -> Iterator[SampleItem]:
        """The samples as items named by their ids."""
        config = load_pipeline_config(self.path.resolve())
        for sample in pipeline_samples(self.path.resolve()):
            yield SampleItem.from_parent(self, name=sample.id, sample=sample, pipeline=config)


class SampleItem(pytest.Item):
    """One sample of a pipeline, sent to its chatbot and scored when the item runs."""

    def __init__(self, *, sample: TestSample, pipeline: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample = sample
        self.pipeline = pipeline
        self.results: list[SampleResult] = []
        # `-k TAG` selects samples by tag as well as by id
        self.extra_keyword_matches.update(sample.tags)

    def runtest(self) -> None:
        """Answer and score the sample; raise ``SampleFailed`` with the explanation."""
        from chatbot_tester.orchestrator.in_memory import evaluate

        config = self.pipeline
        result = evaluate(
            [self.sample],
            config.runner,
            config.evaluator.metrics,
            max_error_rate=None,
            base_dir=config.base_dir,
        )
        self.results = result.samples
        for outcome in self.results:
            record = outcome.record
            if record is not None and record.latency_ms is not None:
                self.user_properties.append(("latency_ms", round(record.latency_ms, 3)))
            for score in outcome.scores:
                if score.value is not None:
                    self.user_properties.append((f"score.{score.metric}", score.value))
        failed = [r for r in self.results if not r.passed]
        if failed:
            raise SampleFailed("\n".join(r.explain() for r in failed))
        if not any(r.scores for r in self.results):
            raise SampleFailed(
                f"sample {self.sample.id}: nothing scored it (add evaluator.metrics or assertions)"
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The explanation for a failed sample; a traceback for anything else."""
        if isinstance(excinfo.value, SampleFailed):
            return str(excinfo.value)
        if isinstance(excinfo.value, ChatbotTesterError):
            return f"error: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item comes from, for pytest's report lines."""
        return self.path, None, f"{self.path.name}::{self.sample.id}"
