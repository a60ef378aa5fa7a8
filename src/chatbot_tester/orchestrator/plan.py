"""``--dry-run``: validate everything and estimate the work without calling or writing anything."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.artifacts.remote_workspace import config_workspace
from chatbot_tester.common.config import BackendSpec, MetricSpec, PipelineConfig
from chatbot_tester.common.plugins import load_config
from chatbot_tester.common.schemas import TestSample, Usage
from chatbot_tester.common.types import empty_list

if TYPE_CHECKING:
    from chatbot_tester.generator.doc_plan import DocumentsPlan

from chatbot_tester.orchestrator.validate import (
    is_local_backend,
    validate_assertions,
    validate_pipeline,
    validate_workspace_refs,
)

__all__ = ["JUDGE_METRICS", "PipelinePlan", "StagePlan", "plan_pipeline"]

JUDGE_METRICS = {"llm_judge": 1, "g_eval": 1, "pairwise": 2, "goal_judge": 1}
"""Metric types that call a judge model, and calls per vote (pairwise swaps positions)."""

_JUDGE_PROMPT_OVERHEAD = 350  # rubric + instructions, in tokens
_JUDGE_COMPLETION = 80


class StagePlan(BaseModel):
    """Estimated work of one stage."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    backend: str | None = None
    model: str | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    note: str | None = None


class PipelinePlan(BaseModel):
    """What ``chatbot-tester run --dry-run`` prints."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str
    workspace: str
    samples: int
    turns: int
    repeat: int
    metrics: list[str]
    thresholds: list[str]
    stages: list[StagePlan] = Field(default_factory=empty_list)
    variants: list[str] = Field(default_factory=empty_list)
    """Variant names, for a pipeline with ``variants`` (stages are labelled ``run [name]``)."""

    @property
    def total_cost_usd(self) -> float | None:
        """Sum of the stages' costs; ``None`` when any priced stage is unknown."""
        costs = [s.cost_usd for s in self.stages if s.calls]
        if any(c is None for c in costs):
            return None
        return sum(c for c in costs if c is not None)


def _judge_calls(spec: MetricSpec, records: int) -> int:
    votes = int(spec.options.get("votes", 1) or 1)
    return JUDGE_METRICS[spec.type] * votes * records


def plan_pipeline(
    source: PipelineConfig | Path | str | dict[str, Any], *, workspace_dir: Path | None = None
) -> PipelinePlan:
    """Validate the pipeline and its sources and estimate calls, tokens and cost.

    Calls no backend and writes nothing (not even the workspace directory). With
    ``variants``, every variant is validated and gets its own run (and judge) stage.
    """
    config = load_config(source)
    if not config.variants:
        return _plan_one(config, workspace_dir)
    plans = {v.name: _plan_one(config.with_variant(v), workspace_dir) for v in config.variants}
    first = next(iter(plans.values()))
    stages = [s for s in first.stages if s.stage.startswith("generate")]  # made once
    for name, plan in plans.items():
        stages += [
            s.model_copy(update={"stage": f"{s.stage} [{name}]"})
            for s in plan.stages
            if not s.stage.startswith("generate")
        ]
    return first.model_copy(update={"stages": stages, "variants": list(plans)})


def _documents_plan(config: PipelineConfig) -> DocumentsPlan | None:
    if config.generator.documents is None:
        return None
    from chatbot_tester.generator.doc_plan import plan_documents

    return plan_documents(config.generator.documents, config.base_dir)


def _documents_stages(config: PipelineConfig, plan: DocumentsPlan) -> list[StagePlan]:
    """The ``generate (documents)`` stage, and its grounding judge's with ``grounding: judge``."""
    from chatbot_tester.common.calls.cost import PriceTable

    spec = config.generator.documents
    assert spec is not None
    prices = PriceTable(config.runner.prices)

    def stage(
        name: str, backend: BackendSpec, calls: int, prompt: int, completion: int
    ) -> StagePlan:
        usage = Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
        return StagePlan(
            stage=name,
            backend=backend.backend,
            model=backend.model,
            calls=calls,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=prices.cost(backend.model, usage),
            note="first attempts; cached calls are not counted out",
        )

    stages = [
        stage("generate (documents)", spec, plan.calls, plan.prompt_tokens, plan.completion_tokens)
    ]
    if plan.judge_calls:
        judge = spec.grounding_judge or spec
        stages.append(
            stage(
                "generate (grounding judge)",
                judge,
                plan.judge_calls,
                plan.judge_prompt_tokens,
                plan.judge_completion_tokens,
            )
        )
    return stages


def _plan_one(config: PipelineConfig, workspace_dir: Path | None) -> PipelinePlan:
    """The plan of a single-runner config (one variant's, or the whole pipeline's)."""
    from chatbot_tester.common.calls.cost import (
        DEFAULT_COMPLETION_TOKENS,
        PriceTable,
        count_tokens,
        sample_usage,
    )
    from chatbot_tester.generator import load_samples

    asyncio.run(validate_pipeline(config))
    runner, ev = config.runner, config.evaluator
    ws = config_workspace(config, workspace_dir)
    workspace = ws.location
    validate_workspace_refs(config, ws)

    samples: list[TestSample] = []
    synthetic = config.generator.synthetic
    if config.generator.source is not None:
        samples = list(load_samples(config.generator, config.base_dir))
        validate_assertions(samples, config.resolve_path(config.generator.source))
    if config.generator.packs:  # red-team attacks are known exactly
        from chatbot_tester.generator.redteam import pack_samples

        samples += pack_samples(config.generator.packs, config.generator.strategies)
    documents = _documents_plan(config)
    n_documents = documents.samples if documents else 0
    perturbations = config.generator.perturbations
    factor = 1  # variants of the generated samples (those from a file are counted exactly)
    if perturbations is not None:
        from chatbot_tester.generator.perturb import perturb_samples

        paraphrased = perturbations.paraphrase is not None
        extra = {s.id: s for s in samples} if paraphrased else None  # one more variant each
        samples = list(perturb_samples(samples, perturbations, extra))
        factor = len(perturbations.kinds) + int(perturbations.keep_original) + int(paraphrased)
    n_samples = len(samples) + factor * ((synthetic.count if synthetic else 0) + n_documents)
    turns = sum(len(s.turns) if s.turns else 1 for s in samples)
    turns += factor * (
        (synthetic.count if synthetic else 0) + (documents.turns if documents else 0)
    )

    expected_tokens = [
        count_tokens(ref, runner.model) for s in samples for ref in s.expected_list()[:1]
    ]
    max_tokens = runner.params.get("max_tokens")
    if isinstance(max_tokens, int):
        per_answer = max_tokens
    elif expected_tokens:
        per_answer = round(sum(expected_tokens) / len(expected_tokens))
    else:
        per_answer = DEFAULT_COMPLETION_TOKENS
    prompt = completion = runner_calls = 0
    for s in samples:  # the same per-sample estimate as the runner's cost budget
        usage, calls = sample_usage(
            s, model=runner.model, system_prompt=runner.system_prompt, completion=per_answer
        )
        prompt += usage.prompt_tokens or 0
        completion += usage.completion_tokens or 0
        runner_calls += calls
    n_synthetic = factor * (
        (synthetic.count if synthetic else 0) + (documents.turns if documents else 0)
    )
    runner_calls = (runner_calls + n_synthetic) * runner.repeat
    completion = (completion + per_answer * n_synthetic) * runner.repeat
    prompt *= runner.repeat
    runner_cost = PriceTable(runner.prices).cost(
        runner.model,
        Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
    )
    if is_local_backend(runner.backend):
        runner_cost = 0.0  # the model runs on this machine
    stages = [
        StagePlan(
            stage="run",
            backend=runner.backend,
            model=runner.model,
            calls=runner_calls,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=runner_cost,
            note="completion tokens estimated from the expected answers"
            if max_tokens is None
            else None,
        )
    ]
    if synthetic is not None:
        from chatbot_tester.generator.doc_plan import plan_synthetic

        calls, gen_prompt, gen_completion = plan_synthetic(synthetic, config.base_dir)
        gen_usage = Usage(
            prompt_tokens=gen_prompt,
            completion_tokens=gen_completion,
            total_tokens=gen_prompt + gen_completion,
        )
        stages.insert(
            0,
            StagePlan(
                stage="generate",
                backend=synthetic.backend,
                model=synthetic.model,
                calls=calls,
                prompt_tokens=gen_prompt,
                completion_tokens=gen_completion,
                cost_usd=PriceTable(runner.prices).cost(synthetic.model, gen_usage),
                note="first attempts; synthetic samples are not known before generation",
            ),
        )
    if documents is not None:
        stages[0:0] = _documents_stages(config, documents)
    records = n_samples * runner.repeat
    judge_calls = sum(_judge_calls(m, records) for m in ev.metrics if m.type in JUDGE_METRICS)
    if judge_calls:
        judge = ev.judge
        per_input = prompt // max(1, runner.repeat * n_samples)
        jp = judge_calls * (_JUDGE_PROMPT_OVERHEAD + per_input + per_answer * 2)
        jc = judge_calls * _JUDGE_COMPLETION
        judge_cost = PriceTable(runner.prices).cost(
            judge.model if judge else None,
            Usage(prompt_tokens=jp, completion_tokens=jc, total_tokens=jp + jc),
        )
        stages.append(
            StagePlan(
                stage="evaluate (judge)",
                backend=judge.backend if judge else None,
                model=judge.model if judge else None,
                calls=judge_calls,
                prompt_tokens=jp,
                completion_tokens=jc,
                cost_usd=judge_cost,
                note="cached verdicts are not counted out",
            )
        )
    return PipelinePlan(
        pipeline=config.name,
        workspace=workspace,
        samples=n_samples,
        turns=turns,
        repeat=runner.repeat,
        metrics=[m.label for m in ev.metrics],
        thresholds=list(ev.thresholds),
        stages=stages,
    )
