"""Up-front validation of a pipeline: everything that can be checked without calling a model.

Runs before any run directory exists (and is all that ``--dry-run`` does besides planning),
so a bad config, source, backend, metric, assertion, gate, baseline or budget leaves nothing
behind. Backends and metrics are really constructed (then closed): that catches what option
schemas alone cannot, such as a missing knowledge-base file, a template syntax error, a Python
function that cannot be imported or a judge metric with no judge.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chatbot_tester.common.artifacts.workspace import Workspace, validate_name
from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.config import BackendSpec, PipelineConfig
from chatbot_tester.common.hashing import stable_hash
from chatbot_tester.common.redact import looks_secret_name
from chatbot_tester.common.schemas import Assertion, TestSample
from chatbot_tester.common.validation import format_validation_error
from chatbot_tester.errors import ChatbotTesterError, ConfigError, DatasetError

__all__ = [
    "REPORT_SECTIONS",
    "backend_hash",
    "is_local_backend",
    "validate_assertions",
    "validate_pipeline",
    "validate_workspace_refs",
]

REPORT_SECTIONS = {"totals", "latency", "ttft", "tokens", "cost", "tags", "metrics", "turn_metrics"}
"""Top-level sections of report.json that gates may name besides metric labels."""


def _where(config: PipelineConfig, field: str) -> str:
    source = config.source_file
    return f"{source}: {field}" if source is not None else field


def _fail(config: PipelineConfig, field: str, exc: BaseException) -> ConfigError:
    message = exc.message if isinstance(exc, ConfigError) else str(exc)
    return ConfigError(f"{_where(config, field)}: {message}")


async def _check_backend(config: PipelineConfig, spec: BackendSpec, field: str) -> None:
    try:
        cls = backend_registry.get(spec.backend)
    except ChatbotTesterError as exc:
        raise _fail(config, field + ".backend", exc) from None
    try:
        spec.resolved(field)  # ${VAR} in the other text fields (system_prompt, params, ...)
    except ConfigError as exc:  # the message names the field already
        source = config.source_file
        raise ConfigError(f"{source}: {exc.message}" if source else exc.message) from None
    try:
        options = spec.resolved_options()
        cls.Options.model_validate(options)
    except ValidationError as exc:
        msg = format_validation_error(exc, cls.Options, f"backend '{spec.backend}'")
        raise ConfigError(f"{_where(config, field + '.options')}: {msg}") from None
    except ConfigError as exc:
        raise _fail(config, field + ".options", exc) from None
    try:
        backend = backend_registry.create(spec.backend, base_dir=config.base_dir, **options)
    except ChatbotTesterError as exc:
        raise _fail(config, field, exc) from None
    missing_model = spec.model is None and backend.needs_model()
    await backend.aclose()
    if missing_model:
        raise ConfigError(
            f"{_where(config, field + '.model')}: backend '{spec.backend}' needs a model: "
            f"set {field}.model (e.g. model: gpt-4o-mini)"
        )


async def _check_metrics(config: PipelineConfig) -> None:
    from chatbot_tester.evaluator.metrics import MetricContext, metric_registry

    ev = config.evaluator
    context = MetricContext(
        judge=ev.judge, workspace_dir=None, base_dir=config.base_dir, cache=False
    )
    for i, spec in enumerate(ev.metrics):
        field = f"evaluator.metrics[{i}]"
        try:
            metric = metric_registry.create(
                spec.type, spec.resolved_options(), name=spec.label, context=context
            )
        except ChatbotTesterError as exc:
            raise _fail(config, field, exc) from None
        await metric.aclose()


def _check_gates(config: PipelineConfig) -> None:
    from chatbot_tester.common.registry import did_you_mean
    from chatbot_tester.evaluator.gates import check_gate_names, parse_gate

    labels = {m.label for m in config.evaluator.metrics}
    for i, expr in enumerate(config.evaluator.thresholds):
        field = f"evaluator.thresholds[{i}]"
        try:
            path, _, _ = parse_gate(expr)
        except ConfigError as exc:
            raise _fail(config, field, exc) from None
        head = path.rsplit(".", 1)[0] if path.rsplit(".", 1)[0] in labels else path.split(".")[0]
        if head in labels or head in REPORT_SECTIONS or head.startswith("assert:"):
            try:
                check_gate_names(expr, labels)
            except ConfigError as exc:
                raise _fail(config, field, exc) from None
            continue
        hint = did_you_mean(head, labels | REPORT_SECTIONS)
        raise ConfigError(
            f"{_where(config, field)}: gate '{expr}' names '{head}', which is neither a "
            f"configured metric nor a report section ({hint})"
        )


def _check_reports(config: PipelineConfig) -> None:
    """Every ``evaluator.report.formats`` name is a registered reporter (plugins included)."""
    from chatbot_tester.orchestrator.reports import reporter_classes

    try:
        reporter_classes(config.evaluator.report.formats)
    except ChatbotTesterError as exc:
        raise _fail(config, "evaluator.report.formats", exc) from None


def is_local_backend(backend: str) -> bool:
    """True for a backend whose model runs on this machine (free: no budget to enforce)."""
    try:
        return backend_registry.get(backend).local
    except ChatbotTesterError:
        return False


def _check_budget(config: PipelineConfig) -> None:
    runner = config.runner
    if runner.max_cost_usd is None or is_local_backend(runner.backend):
        return
    from chatbot_tester.common.calls.cost import PriceTable

    if PriceTable(runner.prices).price(runner.model) is None:
        raise ConfigError(
            f"{_where(config, 'runner.max_cost_usd')}: no price is known for model "
            f"'{runner.model}', so the budget cannot be enforced; add runner.prices."
            f"'{runner.model}' with input_per_million and output_per_million"
        )


def _check_columnar(config: PipelineConfig) -> None:
    """``evaluator.report.columnar`` needs pyarrow (checked before any run folder exists)."""
    if config.evaluator.report.columnar:
        from chatbot_tester.common.artifacts.columnar import check_pyarrow

        check_pyarrow(_where(config, "evaluator.report.columnar"))


def _check_executor(config: PipelineConfig) -> None:
    """``executor: ray`` (runner or evaluator) needs Ray installed (checked before any run folder exists)."""
    from chatbot_tester.common.ray_cluster import check_ray

    for field, executor in (
        ("runner.executor", config.runner.executor),
        ("evaluator.executor", config.evaluator.executor),
    ):
        if executor == "ray":
            check_ray(_where(config, field))


def validate_workspace_refs(config: PipelineConfig, ws: Workspace) -> None:
    """Check the baseline run and the shared run index without creating anything.

    (A shared index gets its table on first contact.)
    """
    from chatbot_tester.orchestrator.run_record import check_index

    check_index(config, ws)
    ref = config.evaluator.baseline
    if ref is None or ref == "latest" or ref.startswith("latest:"):
        return
    path = Path(ref)
    if not path.is_absolute() and (config.base_dir / path).exists():
        ref = str((config.base_dir / path).resolve())
    try:
        ws.open_run(ref)
    except ChatbotTesterError as exc:
        from chatbot_tester.common.artifacts.run_index import open_index

        if ws.scan_runs():  # a tag names the newest evaluated run carrying it
            with open_index(ws) as index:
                if index.latest(tag=ref) is not None:
                    return
        raise _fail(config, "evaluator.baseline", exc) from None


def _assertion_problem(assertion: Assertion) -> str | None:
    from chatbot_tester.evaluator.metrics import metric_registry

    try:
        cls = metric_registry.get(assertion.type)
    except ChatbotTesterError as exc:
        return str(exc)
    try:
        cls.Options.model_validate(assertion.options)
    except ValidationError as exc:
        return format_validation_error(exc, cls.Options, f"metric '{assertion.type}'")
    return None


def validate_assertions(samples: Iterable[TestSample], source: Path | str | None) -> None:
    """Per-sample (and per-turn) assertions name known metrics with valid options."""
    for sample in samples:
        groups: list[tuple[str, list[Assertion]]] = [("assertions", sample.assertions)]
        for t, turn in enumerate(sample.turns or []):
            groups.append((f"turns[{t}].assertions", turn.assertions))
        for where, assertions in groups:
            for i, assertion in enumerate(assertions):
                problem = _assertion_problem(assertion)
                if problem is not None:
                    raise DatasetError(f"sample '{sample.id}' {where}[{i}]: {problem}", file=source)


async def validate_pipeline(config: PipelineConfig) -> None:
    """Check names, backends of every stage, metrics, gates and the budget; ConfigError."""
    try:
        validate_name(config.name, "pipeline name")
        if config.generator.dataset_id is not None:
            validate_name(config.generator.dataset_id, "generator.dataset_id")
    except ConfigError as exc:
        raise _fail(config, "name", exc) from None
    if config.generator.synthetic is not None:
        await _check_backend(config, config.generator.synthetic, "generator.synthetic")
    perturbations = config.generator.perturbations
    if perturbations is not None and perturbations.paraphrase is not None:
        await _check_backend(config, perturbations.paraphrase, "generator.perturbations.paraphrase")
    if config.generator.packs:
        from chatbot_tester.generator.redteam import load_pack

        for name in config.generator.packs:
            try:
                load_pack(name)
            except ConfigError as exc:
                raise _fail(config, "generator.packs", exc) from None
    documents = config.generator.documents
    if documents is not None:
        from chatbot_tester.generator.doc_readers import read_documents

        try:  # a missing, empty or unreadable document fails before anything is written
            read_documents(documents.files, config.base_dir, jsonl_field=documents.jsonl_field)
        except DatasetError as exc:
            raise exc from None
        except ConfigError as exc:
            source = config.source_file
            raise ConfigError(f"{source}: {exc}" if source is not None else str(exc)) from None
        await _check_backend(config, documents, "generator.documents")
        if documents.grounding == "judge" and documents.grounding_judge is not None:
            await _check_backend(
                config, documents.grounding_judge, "generator.documents.grounding_judge"
            )
    await _check_backend(config, config.runner, "runner")
    if config.evaluator.judge is not None:
        await _check_backend(config, config.evaluator.judge, "evaluator.judge")
    await _check_metrics(config)
    _check_gates(config)
    _check_reports(config)
    _check_budget(config)
    _check_executor(config)
    _check_columnar(config)


def _public_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if not looks_secret_name(k)}


def backend_hash(config: PipelineConfig) -> str:
    """Identity of the chatbot under test, for refusing to resume against a changed one.

    Uses the options with ``${ENV}`` references resolved (so pointing ``OPENAI_BASE_URL`` at
    another endpoint counts as a change) but without secret-looking options (so rotating a key
    does not).
    """
    runner = config.runner
    try:
        options = _public_options(runner.resolved_options())
    except ConfigError:
        options = _public_options(runner.options)
    return stable_hash(
        {
            "backend": runner.backend,
            "model": runner.model,
            "options": options,
            "params": runner.params,
            "system_prompt": runner.system_prompt,
            "repeat": runner.repeat,
        }
    )
