"""A pipeline with ``variants``: one run per variant, one comparison of them all.

The dataset is prepared once; each variant then runs as its own ``PipelineRun`` in the
workspace on a single-runner config (``PipelineConfig.with_variant``), sharing the dataset
and the caches (response and judge caches live in the workspace). Every other variant is
compared with the baseline variant (``evaluator.compare_group``: the same paired tests, Holm
across metrics per pair), and one ``compare.html`` / ``.md`` / ``.json`` is written to
``<workspace>/groups/<group id>/`` (uploaded too, for a remote workspace). The group exits 1 when any variant fails its own gates or
regresses against the baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.artifacts.workspace import Workspace, new_run_id
from chatbot_tester.common.config import PipelineConfig, VariantConfig
from chatbot_tester.common.events import EventBus, Subscriber
from chatbot_tester.common.schemas import Manifest
from chatbot_tester.common.types import empty_dict
from chatbot_tester.evaluator.compare_group_model import GroupComparison, VariantSide
from chatbot_tester.orchestrator.pipeline_run import PipelineRun
from chatbot_tester.orchestrator.result import PipelineResult

__all__ = ["GROUPS_DIR", "VariantRun", "VariantsResult", "run_variants"]

GROUPS_DIR = "groups"
"""Folder of the workspace holding one folder per variant group (its comparison files)."""


class VariantsResult(BaseModel):
    """Outcome of a pipeline with variants: each variant's run and the group comparison."""

    model_config = ConfigDict(extra="forbid")

    group: str
    """The group id (also recorded in every variant's manifest)."""
    group_dir: Path
    """``<workspace>/groups/<group>``: the comparison files."""
    baseline: str
    """The baseline variant's name."""
    variants: dict[str, PipelineResult] = Field(default_factory=empty_dict)
    """Variant name -> its run's result, in config order."""
    comparison: GroupComparison
    """Every other variant against the baseline."""
    reports: dict[str, Path] = Field(default_factory=empty_dict)
    """compare_html / compare_md / compare_json -> path."""
    exit_code: int = 0
    """1 when a variant failed its gates or regressed against the baseline, else 0."""

    @property
    def passed(self) -> bool:
        """True when the group exits 0."""
        return self.exit_code == 0


class VariantRun(PipelineRun):
    """A ``PipelineRun`` of one variant on an already prepared dataset.

    Its manifest records the variant's name and the group id; generation is recorded as
    skipped (the group prepared the dataset once, before the first variant).
    """

    def __init__(
        self,
        config: PipelineConfig,
        ws: Workspace,
        *,
        cache: bool,
        bus: EventBus,
        variant: str,
        group: str,
        prepared: PipelineRun,
    ) -> None:
        super().__init__(config, ws, cache=cache, bus=bus)
        self.variant = variant
        self.group = group
        self.dataset = prepared.dataset
        self._generate_seconds = 0.0

    def _create(self) -> Manifest:
        manifest = super()._create()
        manifest.variant = self.variant
        manifest.group = self.group
        return manifest


def new_group_id() -> str:
    """A time-sortable group id (same form as a run id)."""
    return new_run_id()


async def run_variants(
    config: PipelineConfig,
    ws: Workspace,
    *,
    cache: bool,
    new_bus: Callable[[], EventBus],
    subscribers: Sequence[Subscriber] = (),
    prepare: Callable[[PipelineRun], object] | None = None,
) -> VariantsResult:
    """Run every variant of ``config`` (validated) and compare them with the baseline.

    ``new_bus`` makes each variant's event bus (a run closes its bus when it finishes);
    ``subscribers`` are subscribed to each. ``prepare`` checks the prepared dataset (the
    pipeline's assertion check) before any variant runs.
    """
    from chatbot_tester.evaluator.compare_group import compare_group, write_group

    baseline = config.baseline_variant
    assert baseline is not None, "run_variants needs a config with variants"
    ordered: list[VariantConfig] = [baseline] + [v for v in config.variants if v is not baseline]
    group = new_group_id()
    first = PipelineRun(config.with_variant(baseline), ws, cache=cache, bus=new_bus())
    await first.prepare_dataset()
    if prepare is not None:
        prepare(first)
    results: dict[str, PipelineResult] = {}
    for variant in ordered:
        bus = new_bus()
        for subscriber in subscribers:
            bus.subscribe(subscriber)
        run = VariantRun(
            config.with_variant(variant),
            ws,
            cache=cache,
            bus=bus,
            variant=variant.name,
            group=group,
            prepared=first,
        )
        results[variant.name] = await run.execute()
    sides = {
        name: VariantSide(name=name, run_id=r.run_id, run_dir=str(r.run_dir))
        for name, r in results.items()
    }
    compare = config.evaluator.compare
    comparison = compare_group(
        group,
        sides[baseline.name],
        [sides[v.name] for v in config.variants if v is not baseline],
        alpha=compare.alpha,
        correction=compare.correction,
        min_effect=compare.min_effect,
        statistic=compare.statistic,
    )
    group_dir = ws.root / GROUPS_DIR / group
    reports = write_group(comparison, group_dir)
    ws.publish_shared(f"{GROUPS_DIR}/{group}")  # a remote workspace uploads the comparison
    failed = any(r.exit_code for r in results.values())
    return VariantsResult(
        group=group,
        group_dir=group_dir,
        baseline=baseline.name,
        variants={v.name: results[v.name] for v in config.variants},
        comparison=comparison,
        reports=reports,
        exit_code=1 if failed or comparison.exit_code else 0,
    )
