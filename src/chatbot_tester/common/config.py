"""Pipeline configuration models (``pipeline.yaml``).

Every model forbids unknown keys; the YAML loader (``common.yaml_loader``) maps validation
errors to ``file:line:col`` with did-you-mean. ``${VAR}`` references are kept verbatim in these
models (and so in every snapshot written to disk); they are resolved only in memory, when a
stage uses them: backend options when a backend is created (``resolved_options``), every other
text field of a runner, judge or generator backend when its stage starts (``resolved``), metric
options when a metric is built. Relative paths are relative to the YAML file
(``PipelineConfig.base_dir``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from chatbot_tester.common import dotenv_source
from chatbot_tester.common.config_base import (
    BackendSpec,
    Bool,
    Float,
    Int,
    resolve_env,
)
from chatbot_tester.common.config_base import ConfigModel as _Model
from chatbot_tester.common.config_generator import DocumentsConfig, PerturbationsConfig, Strategy
from chatbot_tester.common.config_simulation import SimulatedUserConfig
from chatbot_tester.common.types import empty_dict, empty_list

__all__ = [
    "BackendSpec",
    "BackoffConfig",
    "DocumentsConfig",
    "EvaluatorConfig",
    "GeneratorConfig",
    "JudgeConfig",
    "MetricSpec",
    "PipelineConfig",
    "Price",
    "RateLimitConfig",
    "RayConfig",
    "ReportConfig",
    "RunnerConfig",
    "StorageConfig",
    "SyntheticConfig",
    "VariantConfig",
    "resolve_env",
]


class SyntheticConfig(BackendSpec):
    """Ask an LLM to write test samples."""

    config_path: ClassVar[str] = "generator.synthetic"

    instructions: str
    """What kind of samples to write (domain, style, difficulty)."""
    count: Int = Field(default=10, ge=1, le=100_000)
    """How many samples to produce."""
    seed: Int | None = None
    """Seed passed to the model (when supported) and used for sampling; keeps runs reproducible."""
    batch_size: Int = Field(default=10, ge=1, le=100)
    """Samples requested per call."""
    max_attempts: Int = Field(default=3, ge=1, le=20)
    """Calls per batch before invalid items are reported as errors."""
    timeout_s: Float = Field(default=180.0, gt=0)
    """Hard wall-clock limit per generation call (writing a batch takes a while)."""
    retries: Int = Field(default=3, ge=0, le=20)
    """Retries per generation call after a timeout, rate limit or server error."""
    documents: list[Path] = Field(default_factory=empty_list)
    """Optional documents to write questions from (relative to the YAML file)."""


class GeneratorConfig(_Model):
    """How the dataset is built: from a file (``source``), by an LLM (``synthetic``), from ``documents``."""

    source: Path | None = None
    """CSV, JSONL, JSON array, Parquet or YAML file, or a saved HF dataset folder (relative to the YAML file)."""
    format: Literal["auto", "csv", "jsonl", "json", "parquet", "yaml", "hf"] = "auto"
    """File format; ``auto`` picks by extension (a directory: a saved Hugging Face dataset)."""
    dataset_id: str | None = None
    """Dataset id; defaults to the source file's stem or ``synthetic``."""
    columns: dict[str, str] = Field(default_factory=empty_dict)
    """Column mapping (CSV, JSON, Parquet, HF), field -> column: id, input, expected, context, tags, metadata.*."""
    synthetic: SyntheticConfig | None = None
    """Generate samples with an LLM instead of (or in addition to) a file."""
    documents: DocumentsConfig | None = None
    """Write grounded samples from documents (chunked, checked against their chunks, de-duplicated)."""
    packs: list[str] = Field(default_factory=empty_list)
    """Red-team packs shipped with chatbot-tester (``chatbot-tester generate --list-packs``): prompt-injection, jailbreak, ..."""
    strategies: list[Strategy] = Field(default_factory=empty_list)
    """Transformations added for every pack sample: base64, leetspeak, roleplay, crescendo (scripted warm-up), crescendo_sim (a simulated user escalates; needs runner.simulated_user)."""
    perturbations: PerturbationsConfig | None = None
    """Add offline variants of every sample (typos, casing, ...), tagged ``perturbation:<kind>``."""
    cache: Bool = True
    """Cache the generator LLM's responses in the workspace."""
    max_cost_usd: Float | None = Field(default=None, gt=0)
    """Stop ``synthetic`` and ``documents`` generation once their answered calls cost this much (built-in prices); nothing is stored, a rerun resumes from the cache."""

    @model_validator(mode="after")
    def _has_source(self) -> GeneratorConfig:
        given = (self.source, self.synthetic, self.documents)
        if all(x is None for x in given) and not self.packs:
            raise ValueError(
                "generator needs 'source' (a file), 'synthetic' (an LLM), 'documents' or 'packs'"
            )
        if self.strategies and not self.packs:
            raise ValueError("'strategies' transform red-team 'packs': add packs or remove them")
        return self


class BackoffConfig(_Model):
    """Exponential backoff with full jitter between attempts."""

    initial_s: Float = Field(default=0.5, gt=0)
    """Cap of the first backoff delay."""
    max_s: Float = Field(default=30.0, gt=0)
    """Largest backoff delay."""
    multiplier: Float = Field(default=2.0, ge=1)
    """Growth of the delay cap per attempt."""
    max_retry_after_s: Float = Field(default=120.0, gt=0)
    """A server's Retry-After above this is recorded as an error instead of slept."""


class RateLimitConfig(_Model):
    """Client-side rate limits, shared by every stage that uses the same backend and key."""

    requests_per_minute: Float | None = Field(default=None, ge=0.001)
    """Most requests started per minute."""
    tokens_per_minute: Float | None = Field(default=None, ge=1)
    """Most tokens (estimated before, corrected after each call) per minute."""


class RayConfig(_Model):
    """Where and how wide an ``executor: ray`` run or evaluation goes (needs ``chatbot-tester[ray]``)."""

    address: str | None = None
    """An existing cluster (``ray://host:10001`` or ``auto``); unset starts a local one."""
    num_workers: Int = Field(default=2, ge=1, le=4096)
    """Shard tasks running at once (worker processes)."""
    shard_size: Int = Field(default=500, ge=1, le=1_000_000)
    """Samples (records, for the evaluator) per shard; a retried shard re-sends only what still lacks a result."""
    max_shard_retries: Int = Field(default=3, ge=0, le=100)
    """Times one shard is retried after its worker died."""


class Price(_Model):
    """Price of one model in USD per million tokens."""

    input_per_million: Float = Field(ge=0)
    """Prompt tokens."""
    output_per_million: Float = Field(ge=0)
    """Completion tokens."""
    cached_input_per_million: Float | None = Field(default=None, ge=0)
    """Cached prompt tokens (defaults to the input price)."""


class RunnerConfig(BackendSpec):
    """The chatbot under test and how to drive it."""

    config_path: ClassVar[str] = "runner"

    system_prompt: str | None = None
    """System message prepended to every conversation."""
    concurrency: Int = Field(default=8, ge=1, le=4096)
    """Most requests in flight."""
    adaptive_concurrency: Bool = False
    """Halve concurrency on 429s and recover gradually."""
    timeout_s: Float = Field(default=60.0, ge=0.001, le=86_400)
    """Hard wall-clock limit per attempt."""
    sample_timeout_s: Float | None = Field(default=None, gt=0)
    """Total deadline per sample, retries included (default: attempts x timeout)."""
    retries: Int = Field(default=3, ge=0, le=20)
    """Retries after the first attempt, for retryable errors."""
    max_response_bytes: Int = Field(default=10 * 1024 * 1024, ge=1024, le=1 << 40)
    """Largest response body read per call (default 10 MiB); a bigger one is never read
    whole and is recorded as the error `response_too_large` (not retried)."""
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    """Backoff between attempts."""
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    """Requests/tokens per minute."""
    stream: Bool = False
    """Stream responses to measure time to first token."""
    repeat: Int = Field(default=1, ge=1, le=1000)
    """Run each sample this many times."""
    cache: Bool = False
    """Serve identical requests from the workspace's response cache."""
    max_cost_usd: Float | None = Field(default=None, gt=0)
    """Stop scheduling before this budget would be exceeded (the run stays resumable)."""
    max_error_rate: Float = Field(default=0.0, ge=0, le=1)
    """Fraction of samples allowed to end in errors before the run exits 1."""
    prices: dict[str, Price] = Field(default_factory=empty_dict)
    """Per-model prices overriding the built-in table."""
    simulated_user: SimulatedUserConfig | None = None
    """The backend that plays the user of ``scenario`` samples (simulated multi-turn conversations)."""
    executor: Literal["local", "ray"] = "local"
    """Run in this process, or in shards over a Ray cluster (``ray``)."""
    ray: RayConfig = Field(default_factory=RayConfig)
    """Cluster settings for ``executor: ray``."""


class VariantConfig(_Model):
    """One named variant of the chatbot under test: the fields it sets replace the runner's."""

    name: str = Field(min_length=1)
    """Variant name (unique; shown in the comparison and recorded in the run's manifest)."""
    baseline: Bool = False
    """Compare every other variant against this one (default: the first variant)."""
    backend: str | None = None
    """Another registered backend for this variant."""
    model: str | None = None
    """Another model for this variant."""
    options: dict[str, Any] | None = None
    """Backend options replacing the runner's (the whole mapping)."""
    params: dict[str, Any] | None = None
    """Sampling parameters replacing the runner's (the whole mapping)."""
    system_prompt: str | None = None
    """Another system prompt for this variant."""

    def overrides(self) -> dict[str, Any]:
        """The runner fields this variant sets, as written (``${ENV}`` unresolved)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"name", "baseline"})


class MetricSpec(BaseModel):
    """One metric: ``type`` plus the metric's own options (validated by the metric)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    type: str
    """Registered metric name (see `chatbot-tester metrics`)."""
    name: str | None = None
    """Label in reports (default: the type); must be unique."""
    only_tags: list[str] | None = None
    """Apply only to samples carrying one of these tags (default: every sample)."""

    @property
    def options(self) -> dict[str, Any]:
        """The metric options (every key but type, name and only_tags).

        ``tool_call`` documents ``name`` as the expected function; given without ``function``
        or ``calls`` it is passed on as ``function`` too (it stays the report label).
        """
        options = dict(self.model_extra or {})
        if self.type == "tool_call" and self.name and not {"function", "calls"} & options.keys():
            options["function"] = self.name
        return options

    def resolved_options(self) -> dict[str, Any]:
        """``options`` with ``${VAR}`` resolved (in memory only; unset: ``ConfigError``).

        A judge metric's own backend ``options`` are left as written: they are resolved when
        that backend is created.
        """
        where = f"evaluator.metrics '{self.label}'"
        return {
            k: v if k == "options" else resolve_env(v, where=f"{where}.{k}")
            for k, v in self.options.items()
        }

    @property
    def label(self) -> str:
        """Name used in scores and reports."""
        return self.name or self.type


class JudgeConfig(BackendSpec):
    """Default LLM judge for ``llm_judge`` and other judge metrics."""

    config_path: ClassVar[str] = "evaluator.judge"

    concurrency: Int = Field(default=8, ge=1, le=1024)
    """Most judge calls in flight."""
    timeout_s: Float = Field(default=60.0, ge=0.001, le=86_400)
    """Hard wall-clock limit per judge call."""
    retries: Int = Field(default=3, ge=0, le=20)
    """Retries per judge call."""
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    """Requests/tokens per minute."""


ReportFormat = str
"""A registered reporter name (built-in: html, json, junit, md; plugins add more): checked
against the reporter registry once the pipeline's plugins are imported (``validate``)."""


def _all_formats() -> list[ReportFormat]:
    return ["html", "json", "junit", "md"]


class ReportConfig(_Model):
    """Which reports to write."""

    formats: list[ReportFormat] = Field(default_factory=_all_formats)
    """Reporter names: html, json, junit, md, or one an installed plugin registers."""
    title: str | None = None
    """Report title (default: the pipeline name)."""
    columnar: Bool = False
    """Also write results.parquet and scores.parquet next to the JSONL (the ``parquet`` extra)."""


class CompareConfig(_Model):
    """How a run is compared with its baseline (``evaluator.baseline``)."""

    alpha: Float = Field(default=0.05, gt=0, lt=1)
    """Familywise significance level of the comparison."""
    correction: Literal["holm", "none"] = "holm"
    """Correction across metrics before the verdict: Holm (default) or none."""
    min_effect: dict[str, Float] = Field(default_factory=empty_dict)
    """Metric label -> relative margin a change must exceed (default 0.1 for latency/cost)."""
    statistic: dict[str, Literal["mean", "p50", "p95"]] = Field(default_factory=empty_dict)
    """Metric label -> what a graded metric is compared on: mean (default), p50 or p95."""


class EvaluatorConfig(_Model):
    """How answers are scored and the run is judged."""

    metrics: list[MetricSpec] = Field(default_factory=empty_list)
    """Metrics applied to every sample (plus each sample's own assertions)."""
    judge: JudgeConfig | None = None
    """Default judge backend for LLM-judge metrics."""
    thresholds: list[str] = Field(default_factory=empty_list)
    """Gates such as 'exact_match.pass_rate >= 0.8', 'latency.p95 <= 2000'."""
    baseline: str | None = None
    """Run to compare against: a run id or directory, ``latest`` (the previous evaluated run), a tag (the newest run carrying it, see ``runs tag``) or ``latest:<tag>``."""
    compare: CompareConfig = Field(default_factory=CompareConfig)
    """Statistics of the baseline comparison."""
    report: ReportConfig = Field(default_factory=ReportConfig)
    """Report formats."""
    cache: Bool = True
    """Cache judge verdicts in the workspace."""
    executor: Literal["local", "ray"] = "local"
    """Score in this process, or in shards over a Ray cluster (``ray``: scoring starts once the run is written)."""
    ray: RayConfig | None = None
    """Cluster settings for ``executor: ray`` (default: ``runner.ray`` when the runner uses Ray too)."""

    def with_ray_from(self, runner: RunnerConfig) -> EvaluatorConfig:
        """The config with ``ray`` filled in: its own, else the runner's when it uses Ray, else defaults."""
        if self.executor != "ray" or self.ray is not None:
            return self
        ray = runner.ray if runner.executor == "ray" else RayConfig()
        return self.model_copy(update={"ray": ray})

    @field_validator("metrics")
    @classmethod
    def _unique_labels(cls, v: list[MetricSpec]) -> list[MetricSpec]:
        seen: set[str] = set()
        for spec in v:
            if spec.label in seen:
                raise ValueError(f"two metrics are named '{spec.label}': give one a 'name'")
            seen.add(spec.label)
        return v


class StorageConfig(_Model):
    """Settings of a remote workspace (ignored for a local directory)."""

    options: dict[str, Any] = Field(default_factory=empty_dict)
    """fsspec storage options (``client_kwargs: {endpoint_url: ...}``, ``profile``, ...); ``${VAR}`` references are resolved in memory only."""
    checkpoint_records: int = Field(default=500, ge=1)
    """Upload the new results as a part after this many records..."""
    checkpoint_seconds: float = Field(default=10.0, gt=0)
    """...or after this many seconds, whichever comes first."""

    def resolved_options(self) -> dict[str, Any]:
        """``options`` with ``${VAR}`` references resolved (in memory only)."""
        resolved = resolve_env(self.options, where="storage.options")
        assert isinstance(resolved, dict)
        return resolved


class PipelineConfig(_Model):
    """A whole pipeline: generate -> run -> evaluate -> report."""

    name: str = Field(min_length=1)
    """Pipeline name (shown in reports and manifests)."""
    description: str | None = None
    """Free text."""
    plugins: list[str] = Field(default_factory=empty_list)
    """Modules (``pkg.mod``) or files (``my_backends.py``, relative to this file) imported first, so their ``@register_backend`` / ``@register_metric`` take effect."""
    subscribers: list[str] = Field(default_factory=empty_list)
    """Event subscribers as ``package.module:factory`` (called with no arguments; the result is fed every run event), e.g. a tracer."""
    workspace: str = "./workspace"
    """Workspace holding runs, datasets and caches: a directory (relative to the YAML file) or a URL (``s3://bucket/prefix``, ``gs://``, ``az://``, ``memory://``, ``file://``); see Workspaces and storage."""
    storage: StorageConfig = Field(default_factory=lambda: StorageConfig())
    """How a remote workspace is reached and how often a run's results are uploaded."""
    index_url: str | None = None
    """A run index shared by many workspaces and machines: ``postgresql://user:${PASSWORD}@host:port/db`` (extra ``postgres``); the password only as a ``${VAR}`` reference. Default: the workspace's own SQLite index."""
    generator: GeneratorConfig
    """Where the test samples come from."""
    runner: RunnerConfig
    """The chatbot under test."""
    variants: list[VariantConfig] = Field(default_factory=empty_list)
    """Named variants of ``runner`` (each a run, all compared with the baseline variant); see Variants."""
    evaluator: EvaluatorConfig = Field(default_factory=EvaluatorConfig)
    """Scoring, gates and reports."""

    @field_validator("index_url")
    @classmethod
    def _no_literal_password(cls, v: str | None) -> str | None:
        if v is None:
            return v
        match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:([^@]*)@", v)
        if match and match.group(1) and "${" not in match.group(1):
            raise ValueError(
                "write the password as a ${VAR} reference (postgresql://user:${PGPASSWORD}@"
                "host/db), not literally: the pipeline is copied into every run"
            )
        return v

    def resolved_index_url(self) -> str | None:
        """``index_url`` with ``${VAR}`` references resolved (in memory only)."""
        if self.index_url is None:
            return None
        resolved = resolve_env(self.index_url, where="index_url")
        assert isinstance(resolved, str)
        return resolved

    @field_validator("variants")
    @classmethod
    def _check_variants(cls, v: list[VariantConfig]) -> list[VariantConfig]:
        seen: set[str] = set()
        for variant in v:
            if variant.name in seen:
                raise ValueError(f"two variants are named '{variant.name}': give each its own name")
            seen.add(variant.name)
        if sum(variant.baseline for variant in v) > 1:
            raise ValueError("more than one variant has 'baseline: true': mark only one")
        if len(v) == 1:
            raise ValueError("one variant compares with nothing: list two or more, or use runner")
        return v

    @model_validator(mode="after")
    def _variants_own_baseline(self) -> PipelineConfig:
        if self.variants and self.evaluator.baseline is not None:
            raise ValueError(
                "evaluator.baseline cannot be combined with variants: the baseline is the "
                "variant marked 'baseline: true' (or the first); remove evaluator.baseline"
            )
        return self

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source_file: Path | None = PrivateAttr(default=None)
    _raw: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths are resolved against (the YAML file's)."""
        return self._base_dir

    @property
    def source_file(self) -> Path | None:
        """The YAML file this config was loaded from, if any."""
        return self._source_file

    def bind(self, base_dir: Path, source_file: Path | None, raw: dict[str, Any] | None) -> None:
        """Attach the loading context (called by the YAML loader); reads a ``.env`` beside it."""
        if source_file is not None:
            dotenv_source.load_beside(source_file)
        self._base_dir = base_dir
        self._source_file = source_file
        self._raw = raw

    def workspace_location(self) -> str | Path:
        """``workspace`` as a URL (kept verbatim) or as an absolute directory."""
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", self.workspace):
            return self.workspace
        return self.resolve_path(Path(self.workspace))

    def resolve_path(self, path: Path | str) -> Path:
        """``path`` made absolute relative to the YAML file's directory."""
        path = Path(path)
        if path.is_absolute():
            return path
        try:
            return (self._base_dir / path).resolve()
        except (OSError, RuntimeError):  # a symlink loop: the reader names it as one line
            return Path(os.path.normpath(self._base_dir / path))

    @property
    def baseline_variant(self) -> VariantConfig | None:
        """The variant the others are compared with (``None`` without variants)."""
        if not self.variants:
            return None
        return next((v for v in self.variants if v.baseline), self.variants[0])

    def with_variant(self, variant: VariantConfig) -> PipelineConfig:
        """A single-runner config of ``variant``: the runner with the variant's fields set.

        Its snapshot is the pipeline as written with ``runner`` merged and ``variants``
        removed, so every variant's run directory holds a config that re-runs that variant.
        """
        raw = {k: v for k, v in self.snapshot().items() if k != "variants"}
        raw["runner"] = {**dict(raw.get("runner") or {}), **variant.overrides()}
        config = PipelineConfig.model_validate(raw)
        config.bind(self._base_dir, self._source_file, raw)
        return config

    def snapshot(self) -> dict[str, Any]:
        """The config as written (``${ENV}`` references unresolved), for manifests."""
        if self._raw is not None:
            return self._raw
        return self.model_dump(mode="json", exclude_defaults=True)
