"""``evaluate(samples, answers_or_backend, metrics)``: the pipeline's stages without a workspace.

For notebooks, scripts and tests. The samples (``TestSample``s, dicts or plain questions) are
answered by the answers given, a ``ChatBackend``, a Python callable or a ``RunnerConfig``,
scored by the same evaluator as ``run`` (metrics, per-sample assertions, gates, the decision)
and returned as an ``EvaluationResult``. The stages meet through files, so a temporary
directory holds the dataset, results and scores for the call and is removed afterwards.

``evaluate`` is synchronous and works inside a running event loop (a Jupyter cell): it then
runs its own loop in a worker thread, as ``run_pipeline`` does; ``aevaluate`` is the same in
the caller's loop.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chatbot_tester.common.artifacts.jsonl import JsonlAppender
from chatbot_tester.common.backends.base import ChatBackend
from chatbot_tester.common.config import EvaluatorConfig, MetricSpec, RunnerConfig
from chatbot_tester.common.schemas import ChatResponse, ErrorInfo, RunRecord, TestSample
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.common.validation import duplicate_id_error, format_validation_error
from chatbot_tester.errors import UsageError
from chatbot_tester.orchestrator.blocking import run_blocking
from chatbot_tester.orchestrator.in_memory_result import EvaluationResult, SampleResult

__all__ = ["Answers", "MetricLike", "SampleLike", "aevaluate", "assert_passes", "evaluate"]

SampleLike = TestSample | Mapping[str, Any] | str
"""A sample: a ``TestSample``, its dict form (``id`` optional) or just the question."""
MetricLike = str | Mapping[str, Any] | MetricSpec
"""A metric: its type (``"exact_match"``), a dict as in the pipeline, or a ``MetricSpec``."""
Answers = (
    Sequence[str | ChatResponse | None]
    | Mapping[str, str | ChatResponse | None]
    | ChatBackend
    | RunnerConfig
    | Callable[..., Any]
)
"""Answers in sample order or by id, or what produces them (a backend, its config, a callable)."""


def to_samples(samples: Iterable[SampleLike]) -> list[TestSample]:
    """Validated samples with unique ids; a missing id becomes ``row-N`` (1-based)."""
    out: list[TestSample] = []
    seen: set[str] = set()
    for n, item in enumerate(samples, start=1):
        if isinstance(item, TestSample):
            sample = item
        else:
            data = {"input": item} if isinstance(item, str) else dict(item)
            data.setdefault("id", f"row-{n}")
            try:
                sample = TestSample.model_validate(data)
            except ValidationError as exc:
                raise UsageError(
                    format_validation_error(exc, TestSample, f"samples[{n - 1}]")
                ) from None
        if sample.input is None and sample.turns is None:
            raise UsageError(f"samples[{n - 1}] ('{sample.id}'): give an input or turns")
        if sample.id in seen:
            raise duplicate_id_error(sample.id, file=None)
        seen.add(sample.id)
        out.append(sample)
    return out


def to_metrics(metrics: Iterable[MetricLike]) -> list[MetricSpec]:
    """Metric specs from names, dicts or specs."""
    specs = []
    for i, m in enumerate(metrics):
        if isinstance(m, MetricSpec):
            specs.append(m)
            continue
        try:
            specs.append(MetricSpec.model_validate({"type": m} if isinstance(m, str) else dict(m)))
        except ValidationError as exc:
            raise UsageError(format_validation_error(exc, MetricSpec, f"metrics[{i}]")) from None
    return specs


def _answer_records(samples: list[TestSample], answers: Answers) -> list[RunRecord]:
    """One record per sample from answers given in sample order or by id."""
    if isinstance(answers, Mapping):
        missing = [s.id for s in samples if s.id not in answers]
        if missing:
            raise UsageError(f"no answer for samples {missing[:5]} (answers are keyed by id)")
        given = [answers[s.id] for s in samples]
    else:
        assert isinstance(answers, Sequence)
        if len(answers) != len(samples):
            raise UsageError(f"{len(answers)} answers for {len(samples)} samples")
        given = list(answers)
    records = []
    for sample, answer in zip(samples, given, strict=True):
        if sample.turns is not None:
            raise UsageError(
                f"sample '{sample.id}' has turns: pass a backend or a callable, not answers"
            )
        if answer is None:
            error = ErrorInfo(kind=ErrorKind.BAD_RESPONSE, message="no answer given")
            records.append(RunRecord(sample_id=sample.id, error=error, backend="answers"))
            continue
        if not isinstance(answer, (str, ChatResponse)):
            raise UsageError(
                f"the answer to '{sample.id}' is a {type(answer).__name__}: give a str"
            )
        response = answer if isinstance(answer, ChatResponse) else ChatResponse(text=answer)
        records.append(RunRecord(sample_id=sample.id, response=response, backend="answers"))
    return records


async def _run(samples: list[TestSample], answers: Answers, results: Path, base_dir: Path) -> None:
    """Write ``results`` from the answers, or by running the samples through the chatbot."""
    from chatbot_tester.runner import run_job

    if isinstance(answers, RunnerConfig):
        await run_job(samples, answers, results, base_dir=base_dir)
        return
    if isinstance(answers, ChatBackend) or callable(answers):
        from chatbot_tester.testing.doubles import FunctionBackend

        backend = answers if isinstance(answers, ChatBackend) else FunctionBackend(answers)
        config = RunnerConfig(backend=backend.name or "function", retries=0)
        await run_job(samples, config, results, backend=backend, base_dir=base_dir)
        return
    with JsonlAppender(results) as out:
        for record in _answer_records(samples, answers):
            out.write(record)


async def aevaluate(
    samples: Iterable[SampleLike],
    answers_or_backend: Answers,
    metrics: Iterable[MetricLike] = (),
    *,
    thresholds: Sequence[str] = (),
    max_error_rate: float | None = 0.0,
    base_dir: Path | None = None,
) -> EvaluationResult:
    """``evaluate`` in the caller's event loop."""
    from chatbot_tester.evaluator import evaluate_run
    from chatbot_tester.evaluator.decision import decide
    from chatbot_tester.evaluator.metrics import MetricContext
    from chatbot_tester.evaluator.reports.base import Row

    items = to_samples(samples)
    if not items:
        raise UsageError("no samples to evaluate")
    config = EvaluatorConfig(metrics=to_metrics(metrics), thresholds=list(thresholds))
    base = base_dir or Path.cwd()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chatbot-tester-") as tmp:
        folder = Path(tmp)
        dataset, results = folder / "dataset.jsonl", folder / "results.jsonl"
        with JsonlAppender(dataset) as out:
            for sample in items:
                out.write(sample)
        await _run(items, answers_or_backend, results, base)
        evaluation = await evaluate_run(
            dataset,
            results,
            config,
            folder,
            context=MetricContext(judge=None, workspace_dir=None, base_dir=base, cache=False),
            on_row=rows.append,
        )
    report = evaluation.report.with_decision(
        decide(evaluation.report, max_error_rate=max_error_rate)
    )
    rows.sort(key=lambda r: (r.position, 0 if r.record is None else r.record.repeat))
    return EvaluationResult(
        samples=[SampleResult(sample=r.sample, record=r.record, scores=r.scores) for r in rows],
        report=report,
    )


def evaluate(
    samples: Iterable[SampleLike],
    answers_or_backend: Answers,
    metrics: Iterable[MetricLike] = (),
    *,
    thresholds: Sequence[str] = (),
    max_error_rate: float | None = 0.0,
    base_dir: Path | None = None,
) -> EvaluationResult:
    """Score ``samples`` answered by ``answers_or_backend`` with ``metrics``; no workspace.

    ``answers_or_backend`` is a list of answers in sample order (``None``: no answer), a dict
    of answers by sample id, a ``ChatBackend``, a callable (sync or async, given the prompt or
    the ``ChatRequest``, see ``FunctionBackend``) or a ``RunnerConfig`` (backend by name, with
    the runner's retries, concurrency and repeats). ``thresholds`` are gates as in the
    pipeline (``"exact_match.pass_rate >= 0.8"``); they, errors beyond ``max_error_rate``
    (``None``: gates only) and metrics that could not score make ``result.passed`` false.
    Relative paths in metric and backend options are read from ``base_dir`` (default: cwd).
    """
    items, specs = list(samples), list(metrics)

    def main() -> EvaluationResult:
        return asyncio.run(
            aevaluate(
                items,
                answers_or_backend,
                specs,
                thresholds=thresholds,
                max_error_rate=max_error_rate,
                base_dir=base_dir,
            )
        )

    return run_blocking(main)


def assert_passes(
    answer: str | ChatResponse | None,
    metrics: Iterable[MetricLike] = (),
    *,
    sample: SampleLike,
    base_dir: Path | None = None,
) -> SampleResult:
    """Raise ``AssertionError`` (answer, expected, scores and reasons) unless ``answer`` passes.

    ``sample`` gives the question, the expected answer and any assertions; every score must
    pass its verdict and every metric must be able to score. Returns the sample's result.
    """
    result = evaluate([sample], [answer], metrics, max_error_rate=None, base_dir=base_dir)
    outcome = result.samples[0]
    if not outcome.scores:
        raise UsageError("assert_passes: nothing to check (give metrics or sample assertions)")
    if not outcome.passed:
        raise AssertionError(outcome.explain())
    return outcome
