"""Synthetic samples: ask any registered backend to write test cases as JSON.

Each batch asks for ``{"samples": [...]}``; every item is validated as a ``TestSample``.
Invalid or missing items make the batch ask again (with the problems listed, so the request
differs and is not served from the cache) up to ``max_attempts``; what still fails is
reported in a ``SyntheticReport``, never silently dropped. Calls go through
the shared ``BackendClient`` so timeouts, retries and the response cache apply.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot_tester.common.artifacts.jsonl import format_row_error
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.cost import PriceTable
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.redact import mask_secrets
from chatbot_tester.common.schemas import ChatRequest, Message, TestSample, Usage
from chatbot_tester.common.types import empty_list
from chatbot_tester.errors import ConfigError, RunAborted
from chatbot_tester.generator.gen_budget import BudgetReached, Caller, Meter, MeteredClient
from chatbot_tester.generator.input_checks import sample_problem

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.backends.base import ChatBackend
    from chatbot_tester.common.config import BackendSpec, SyntheticConfig
    from chatbot_tester.common.events import EventBus

__all__ = [
    "SYSTEM_PROMPT",
    "SyntheticItemError",
    "SyntheticReport",
    "batch_request",
    "extract_json",
    "generate_synthetic",
    "parse_items",
    "read_documents",
]

SYSTEM_PROMPT = (
    "You write test cases for a chatbot. Reply with one JSON object and nothing else, shaped "
    '{"samples": [{"input": "<what the user says>", "expected": "<the ideal answer>", '
    '"tags": ["<topic>"]}]}. Every input must be different.'
)
"""System message of every synthetic-generation request."""

DOCUMENT_CHARS = 12_000
"""Characters of a source document included in a request (and kept as the sample context)."""

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)
_ALIASES = {"question": "input", "prompt": "input", "answer": "expected"}
_ALIASES["expected_answer"] = "expected"
_KNOWN = {"id", "input", "expected", "tags", "context", "metadata", "assertions", "turns"}


class SyntheticItemError(BaseModel):
    """One item (or batch) the model got wrong after every attempt."""

    model_config = ConfigDict(extra="forbid")

    batch: int
    """Batch number (0-based)."""
    attempt: int
    """Attempt (1-based) that produced the item."""
    item: int | None = None
    """Index of the item in the reply (``None`` for a whole-reply problem)."""
    error: str
    """What was wrong."""
    excerpt: str | None = None
    """Start of the offending item or reply."""


_PRICES = PriceTable()
"""Built-in and refreshed prices for the generator's own calls."""


class SyntheticReport(BaseModel):
    """Counts and per-item errors of one synthetic generation; written next to the dataset."""

    model_config = ConfigDict(extra="forbid")

    requested: int
    """Samples asked for (``count``)."""
    produced: int = 0
    """Valid samples kept."""
    invalid: int = 0
    """Items rejected (invalid JSON shape, failed validation, duplicate input)."""
    calls: int = 0
    """Backend calls made (cache hits included)."""
    cached: int = 0
    """Calls answered from the response cache."""
    batches: int = 0
    """Batches requested."""
    failed_batches: int = 0
    """Batches that still missed samples after ``max_attempts``."""
    error_batches: int = 0
    """Short batches whose last call failed (server error, timeout) rather than returning
    invalid items; generating again may succeed, so ``generate_dataset`` stores nothing."""
    errors: list[SyntheticItemError] = Field(default_factory=empty_list)
    """The problems of the last attempt of each batch that fell short."""
    prompt_tokens: int = 0
    """Prompt tokens of the answered, uncached calls (the generator's spend, not the bot's)."""
    completion_tokens: int = 0
    """Completion tokens of the answered, uncached calls."""
    cost_usd: float | None = None
    """Dollars of the priced calls (``None`` when none could be priced)."""

    def spend(self) -> str:
        """``12 calls (3 cached), 4321 tokens, $0.0123`` for the console."""
        text = f"{self.calls} calls" + (f" ({self.cached} cached)" if self.cached else "")
        text += f", {self.prompt_tokens + self.completion_tokens} tokens"
        return text + (f", ${self.cost_usd:.4f}" if self.cost_usd is not None else ", cost unknown")

    def count_usage(self, usage: Usage | None, cost: float | None) -> None:
        """Add one answered call's usage and cost."""
        if usage is not None:
            self.prompt_tokens += usage.prompt_tokens or 0
            self.completion_tokens += usage.completion_tokens or 0
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost

    spent_usd: float = 0.0
    """Cost of the answered (not cached) calls at the built-in prices (with ``max_cost_usd``)."""
    budget_reached: bool = False
    """``generator.max_cost_usd`` stopped the generation before every batch was written."""

    @property
    def missing(self) -> int:
        """Samples requested but not produced."""
        return max(0, self.requested - self.produced)

    def reasons(self, limit: int = 2) -> str:
        """The first ``limit`` distinct errors, shortened, as one phrase (for one-line messages)."""
        seen: list[str] = []
        for error in self.errors:
            text = " ".join(mask_secrets(error.error).split())
            text = text if len(text) <= 120 else text[:117] + "..."
            if text not in seen:
                seen.append(text)
            if len(seen) == limit:
                break
        return "; ".join(seen) if seen else "no valid items in the replies"


def extract_json(text: str) -> Any:
    """The JSON value of a model's reply: bare, in a code fence, or the outermost {...}/[...]."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            try:
                return orjson.loads(text[start : end + 1])
            except orjson.JSONDecodeError:
                continue
    raise ValueError("the reply is not JSON")


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text[:200]


def parse_items(text: str) -> tuple[list[TestSample], list[tuple[int | None, str, str]]]:
    """Valid samples of a reply, and ``(item index, error, excerpt)`` for what is not valid."""
    try:
        data = extract_json(text)
    except ValueError as exc:
        return [], [(None, str(exc), _excerpt(text))]
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        items = data.get("samples", lists[0] if len(lists) == 1 else None)
    else:
        items = data
    if not isinstance(items, list):
        return [], [(None, 'expected {"samples": [...]}', _excerpt(text))]
    samples: list[TestSample] = []
    errors: list[tuple[int | None, str, str]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append((index, "an item is not a JSON object", _excerpt(item)))
            continue
        fields: dict[str, Any] = {"id": "pending"}
        metadata: dict[str, Any] = {}
        for key, value in item.items():
            name = _ALIASES.get(key, key)
            if name in _KNOWN and name not in fields:
                fields[name] = (
                    [value] if name in ("tags", "context") and isinstance(value, str) else value
                )
            elif name != "id":
                metadata[key] = value
        if "id" in item:
            metadata.setdefault("proposed_id", item["id"])
        if metadata:
            fields["metadata"] = {**metadata, **(fields.get("metadata") or {})}
        try:
            sample = TestSample.model_validate(fields)
        except ValidationError as exc:
            errors.append((index, format_row_error(exc, TestSample), _excerpt(item)))
            continue
        problem = sample_problem(sample)
        if problem is not None:
            errors.append((index, problem, _excerpt(item)))
            continue
        samples.append(sample)
    return samples, errors


def read_documents(config: SyntheticConfig, base_dir: Path) -> list[tuple[str, str]]:
    """``(name, text)`` of each of ``config.documents`` (the first ``DOCUMENT_CHARS``)."""
    docs: list[tuple[str, str]] = []
    for doc in config.documents:
        path = doc if doc.is_absolute() else base_dir / doc
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            raise ConfigError(
                f"generator.synthetic.documents: cannot read {doc}: {exc.strerror}"
            ) from None
        docs.append((doc.name, text[:DOCUMENT_CHARS]))
    return docs


def batch_request(
    config: SyntheticConfig,
    batch: int,
    want: int,
    attempt: int,
    problems: list[str],
    avoid: list[str],
    document: tuple[str, str] | None,
) -> ChatRequest:
    """The request of one batch attempt (an attempt after the first lists the problems)."""
    parts = [config.instructions.strip(), "", f"Write {want} test case(s). Batch {batch + 1}."]
    if document is not None:
        parts += ["", f"Base the questions on this document ({document[0]}):", document[1]]
    if avoid:
        parts += ["", "Do not repeat these inputs:", *(f"- {a[:200]}" for a in avoid[-20:])]
    return writer_request(
        SYSTEM_PROMPT, parts, config, attempt, problems, f"synthetic-batch-{batch + 1}"
    )


def writer_request(
    system: str,
    parts: list[str],
    config: BackendSpec,
    attempt: int,
    problems: list[str],
    sample_id: str,
) -> ChatRequest:
    """A generator step's request: the prompt ``parts``, then a retried attempt's problems.

    The step's params go along, with its ``seed`` when the step has one.
    """
    if attempt > 1:
        parts = [*parts, "", f"Attempt {attempt}: your previous reply had problems:"]
        parts += [f"- {p}" for p in problems[:10]]
    params = dict(config.params)
    seed = getattr(config, "seed", None)
    if seed is not None:
        params.setdefault("seed", seed)
    return ChatRequest(
        messages=[
            Message(role="system", content=system),
            Message(role="user", content="\n".join(parts)),
        ],
        model=config.model,
        params=params,
        sample_id=sample_id,
    )


async def _run_batch(
    client: Caller,
    config: SyntheticConfig,
    batch: int,
    want: int,
    document: tuple[str, str] | None,
    report: SyntheticReport,
) -> list[TestSample]:
    kept: list[TestSample] = []
    seen: set[str] = set()
    problems: list[str] = []
    errors: list[SyntheticItemError] = []
    call_failed = False
    for attempt in range(1, config.max_attempts + 1):
        missing = want - len(kept)
        request = batch_request(config, batch, missing, attempt, problems, sorted(seen), document)
        try:
            outcome = await client.call(request, request.sample_id or "")
        except BudgetReached as exc:
            report.budget_reached = True
            errors = [SyntheticItemError(batch=batch, attempt=attempt, error=f"not written: {exc}")]
            break
        report.calls += 1
        report.cached += int(outcome.cached)
        if outcome.response is not None and not outcome.cached:
            model = config.model or outcome.response.model
            report.count_usage(outcome.usage, _PRICES.cost(model, outcome.usage))
        errors, problems = [], []
        call_failed = outcome.response is None
        if outcome.response is None:
            assert outcome.error is not None
            if outcome.fail_fast:
                raise RunAborted(f"synthetic generation failed: {outcome.error.message}")
            errors.append(
                SyntheticItemError(batch=batch, attempt=attempt, error=outcome.error.message)
            )
            problems.append("the request failed")
            continue
        samples, bad = parse_items(outcome.response.text)
        for index, error, excerpt in bad:
            errors.append(
                SyntheticItemError(
                    batch=batch, attempt=attempt, item=index, error=error, excerpt=excerpt
                )
            )
            problems.append(f"item {index + 1}: {error}" if index is not None else error)
        for sample in samples:
            key = _input_key(sample)
            if key in seen:
                errors.append(
                    SyntheticItemError(
                        batch=batch, attempt=attempt, error="duplicate input", excerpt=key[:200]
                    )
                )
                problems.append(f"duplicate input: {key[:80]}")
                continue
            seen.add(key)
            if len(kept) < want:
                if document is not None and not sample.context:
                    sample.context = [document[1]]
                kept.append(sample)
        report.invalid += len(errors)
        if len(kept) >= want:
            return kept
        if not bad and len(kept) < want:
            problems.append(f"only {len(kept)} of {want} valid samples so far")
    report.failed_batches += 1
    report.error_batches += int(call_failed)
    report.errors.extend(errors)
    if len(kept) < want and not errors:
        report.errors.append(
            SyntheticItemError(
                batch=batch,
                attempt=config.max_attempts,
                error=f"only {len(kept)} of {want} samples",
            )
        )
    return kept


def _input_key(sample: TestSample) -> str:
    return " ".join(str(sample.input).lower().split())


def _drop_cross_batch_duplicates(
    results: list[list[TestSample]], report: SyntheticReport
) -> list[TestSample]:
    """Keep the first sample of each input across batches (batch order, so deterministic).

    Batches run concurrently and each only avoids its own repeats; a question asked by two
    batches is dropped from the later one and recorded as an invalid item (the dataset is then
    short, which the report and the warning say).
    """
    first: dict[str, int] = {}
    kept: list[TestSample] = []
    for batch, samples in enumerate(results):
        for sample in samples:
            key = _input_key(sample)
            if key in first:
                report.invalid += 1
                report.errors.append(
                    SyntheticItemError(
                        batch=batch,
                        attempt=1,
                        error=f"duplicate input (also in batch {first[key] + 1})",
                        excerpt=key[:200],
                    )
                )
                continue
            first[key] = batch
            kept.append(sample)
    return kept


def _assign_ids(samples: list[TestSample], taken: set[str]) -> None:
    used = set(taken)
    number = 0
    for sample in samples:
        while True:
            number += 1
            candidate = f"syn-{number:04d}"
            if candidate not in used:
                break
        sample.id = candidate
        used.add(candidate)


async def generate_synthetic(
    config: SyntheticConfig,
    *,
    base_dir: Path,
    cache: ResponseCache | None = None,
    bus: EventBus | None = None,
    backend: ChatBackend | None = None,
    taken: set[str] | None = None,
    concurrency: int = 4,
    max_cost_usd: float | None = None,
) -> tuple[list[TestSample], SyntheticReport]:
    """Write ``config.count`` samples with an LLM; ids ``syn-0001``... avoid ``taken``.

    The order is batch order (shuffled with ``config.seed`` when set), independent of which
    call finishes first, so the same replies always give the same dataset. With
    ``max_cost_usd`` no call starts once the answered calls cost that much (built-in prices;
    ``report.budget_reached``).
    """
    from chatbot_tester.common.calls.cost import PriceTable

    prices = PriceTable()
    if max_cost_usd is not None and prices.price(config.model) is None:
        raise ConfigError(
            f"generator.max_cost_usd: no price is known for model '{config.model}' of backend "
            f"'{config.backend}', so the budget cannot be enforced; set a priced model or remove "
            "max_cost_usd"
        )
    from chatbot_tester.common.backends import backend_registry

    config = config.resolved()  # ${VAR} in instructions, params, ...
    own = backend is None
    if backend is None:
        backend = backend_registry.create(
            config.backend, base_dir=base_dir, **config.resolved_options()
        )
    documents = read_documents(config, base_dir)
    sizes = [
        min(config.batch_size, config.count - start)
        for start in range(0, config.count, config.batch_size)
    ]
    report = SyntheticReport(requested=config.count, batches=len(sizes))
    results: list[list[TestSample]] = [[] for _ in sizes]
    limiter = anyio.CapacityLimiter(concurrency)
    policy = CallPolicy(timeout_s=config.timeout_s, retries=config.retries)
    meter = Meter(max_cost_usd, prices)
    client = MeteredClient(
        BackendClient(backend, policy, None, cache, bus, "generate"), meter, config.model
    )
    aborted: list[RunAborted] = []

    async def one(batch: int, scope: anyio.CancelScope) -> None:
        async with limiter:
            doc = documents[batch % len(documents)] if documents else None
            try:
                results[batch] = await _run_batch(client, config, batch, sizes[batch], doc, report)
            except RunAborted as exc:  # raised outside the task group, not as a group
                aborted.append(exc)
                scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            for batch in range(len(sizes)):
                tg.start_soon(one, batch, tg.cancel_scope)
    finally:
        if own:
            await backend.aclose()
    if aborted:
        raise aborted[0]
    samples = _drop_cross_batch_duplicates(results, report)
    if config.seed is not None:
        random.Random(config.seed).shuffle(samples)
    _assign_ids(samples, taken or set())
    report.produced = len(samples)
    report.spent_usd = round(meter.spent_usd, 6)
    report.errors.sort(key=lambda e: (e.batch, e.attempt, -1 if e.item is None else e.item))
    return samples, report
