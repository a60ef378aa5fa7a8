"""``generator.documents``: grounded test samples written from documents by any backend.

Read and chunk the documents, plan the slots from ``seed`` (``doc_questions.plan_slots``),
ask the backend for one sample per slot through the shared ``BackendClient`` (timeouts,
retries, the response cache: a rerun after a crash replays the calls already answered),
check each expected answer against its chunks (``grounding``), drop near-duplicates, and
number what is left ``doc-0001``... in slot order. Every sample records its origin in
``metadata.origin``; every drop is listed in the ``DocumentsReport``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.schemas import Assertion, TestSample, Turn
from chatbot_tester.errors import ConfigError, RunAborted
from chatbot_tester.generator.chunking import chunk_documents
from chatbot_tester.generator.dedupe import near_duplicates
from chatbot_tester.generator.doc_questions import (
    Draft,
    Slot,
    parse_reply,
    plan_slots,
    slot_request,
)
from chatbot_tester.generator.doc_readers import read_documents
from chatbot_tester.generator.doc_report import DocumentsReport, DroppedItem
from chatbot_tester.generator.gen_budget import BudgetReached, Meter, MeteredClient
from chatbot_tester.generator.grounding import Verdict, judge_verdict, overlap_verdict

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.backends.base import ChatBackend
    from chatbot_tester.common.config_generator import DocumentsConfig
    from chatbot_tester.common.events import EventBus

__all__ = ["generate_from_documents"]


@dataclass
class _Outcome:
    draft: Draft | None = None
    verdict: Verdict | None = None
    error: str | None = None
    call_failed: bool = False


def _excerpt(text: str | None) -> str | None:
    return None if text is None else text[:200]


def _dropped(slot: Slot, reason: str, draft: Draft | None, **extra: Any) -> DroppedItem:
    first = draft.turns[0] if draft is not None else (None, None)
    return DroppedItem(
        slot=slot.index,
        question_type=slot.qtype,
        chunks=[c.id for c in slot.chunks],
        reason=reason,
        question=_excerpt(first[0]),
        answer=_excerpt(first[1]),
        **extra,
    )


class _Writer:
    """The clients and counters one generation shares across its slots."""

    def __init__(
        self,
        config: DocumentsConfig,
        client: BackendClient,
        judge: BackendClient | None,
        limit_usd: float | None,
    ) -> None:
        from chatbot_tester.common.calls.cost import PriceTable

        self.config = config
        self.meter = Meter(limit_usd, PriceTable())
        self.client = MeteredClient(client, self.meter, config.model)
        judge_model = (config.grounding_judge or config).model
        self.judge = None if judge is None else MeteredClient(judge, self.meter, judge_model)

    async def write(self, slot: Slot) -> _Outcome:
        problems: list[str] = []
        outcome = _Outcome()
        for attempt in range(1, self.config.max_attempts + 1):
            request = slot_request(self.config, slot, attempt, problems)
            try:
                result = await self.client.call(request, request.sample_id or "")
            except BudgetReached as exc:
                return _Outcome(error=f"not written: {exc}")
            if result.response is None:
                assert result.error is not None
                if result.fail_fast:
                    raise RunAborted(f"document generation failed: {result.error.message}")
                outcome = _Outcome(error=f"call failed: {result.error.message}", call_failed=True)
                problems = ["the request failed"]
                continue
            parsed = parse_reply(result.response.text, slot, self.config.follow_up_turns)
            if isinstance(parsed, Draft):
                return _Outcome(draft=parsed, verdict=await self._check(slot, parsed))
            outcome = _Outcome(error=parsed)
            problems = [parsed]
        return outcome

    async def _check(self, slot: Slot, draft: Draft) -> Verdict:
        if self.judge is not None:
            model = (self.config.grounding_judge or self.config).model
            try:
                return await judge_verdict(self.judge, draft.turns, slot.chunks, model)
            except BudgetReached as exc:
                return Verdict(False, None, f"not checked: {exc}", True)
        answers = [a for _, a in draft.turns if a is not None]
        if not answers:  # unanswerable: nothing to overlap; the refusal assertion decides
            return Verdict(True, None, "unanswerable: no answer to check")
        return overlap_verdict(answers, slot.chunks, self.config.grounding_threshold)


def _sample(config: DocumentsConfig, slot: Slot, draft: Draft, verdict: Verdict) -> TestSample:
    tags = [f"qtype:{slot.qtype}"]
    if slot.persona is not None:
        tags.append(f"persona:{slot.persona.role}")
    origin: dict[str, Any] = {
        "generator": "documents",
        "step": "question",
        "question_type": slot.qtype,
        "slot": slot.index,
        "seed": config.seed,
        "chunks": [
            {"id": c.id, "source": c.source, "start": c.start, "end": c.end} for c in slot.chunks
        ],
        "persona": slot.persona.model_dump() if slot.persona is not None else None,
    }
    metadata: dict[str, Any] = {
        "origin": origin,
        "grounding": {"method": config.grounding, "score": verdict.score, "reason": verdict.reason},
    }
    context = [c.text for c in slot.chunks]
    if slot.qtype == "conversational":
        turns = [Turn(user=q, expected=a) for q, a in draft.turns]
        return TestSample(  # the last answer doubles as the sample's reference answer
            id="pending",
            turns=turns,
            expected=draft.turns[-1][1],
            context=context,
            tags=tags,
            metadata=metadata,
        )
    question, answer = draft.turns[0]
    assertions: list[Assertion] = []
    if slot.qtype == "unanswerable":
        answer = config.unanswerable_answer
        assertions.append(
            Assertion.model_validate({"type": "refusal", "expect": config.unanswerable_expect})
        )
    return TestSample(
        id="pending",
        input=question,
        expected=answer,
        context=context,
        assertions=assertions,
        tags=tags,
        metadata=metadata,
    )


def _check_prices(config: DocumentsConfig) -> None:
    from chatbot_tester.common.calls.cost import PriceTable

    prices = PriceTable()
    for spec in (config, config.grounding_judge if config.grounding == "judge" else None):
        if spec is not None and prices.price(spec.model) is None:
            raise ConfigError(
                f"generator.max_cost_usd: no price is known for model '{spec.model}' of backend "
                f"'{spec.backend}', so the budget cannot be enforced; set a priced model or "
                "remove max_cost_usd"
            )


def _assign_ids(samples: list[TestSample], taken: set[str]) -> None:
    number = 0
    for sample in samples:
        while True:
            number += 1
            candidate = f"doc-{number:04d}"
            if candidate not in taken:
                break
        sample.id = candidate


def _client(
    spec: Any,
    base_dir: Path,
    config: DocumentsConfig,
    cache: ResponseCache | None,
    bus: EventBus | None,
    salt: Any = None,
) -> tuple[ChatBackend, BackendClient]:
    from chatbot_tester.common.backends import backend_registry

    backend = backend_registry.create(spec.backend, base_dir=base_dir, **spec.resolved_options())
    policy = CallPolicy(timeout_s=config.timeout_s, retries=config.retries)
    return backend, BackendClient(backend, policy, None, cache, bus, "generate", cache_salt=salt)


async def generate_from_documents(
    config: DocumentsConfig,
    *,
    base_dir: Path,
    cache: ResponseCache | None = None,
    bus: EventBus | None = None,
    taken: set[str] | None = None,
    max_cost_usd: float | None = None,
) -> tuple[list[TestSample], DocumentsReport]:
    """Write up to ``config.count`` grounded samples; ids ``doc-0001``... avoid ``taken``.

    With ``max_cost_usd`` no call starts once the answered calls cost that much (built-in
    prices); the report then says ``budget_reached`` and the unwritten slots are ``failed``.
    """
    if max_cost_usd is not None:
        _check_prices(config)
    documents = read_documents(config.files, base_dir, jsonl_field=config.jsonl_field)
    chunks = chunk_documents(documents, config.chunk_tokens, config.chunk_overlap)
    slots = plan_slots(config, chunks)
    report = DocumentsReport(
        requested=len(slots),
        documents=len(documents),
        chunks=len(chunks),
        seed=config.seed,
        grounding=config.grounding,
        planned_by_type=dict(Counter(s.qtype for s in slots)),
    )
    backends: list[ChatBackend] = []
    try:
        backend, client = _client(config, base_dir, config, cache, bus)
        backends.append(backend)
        judge: BackendClient | None = None
        if config.grounding == "judge":
            if config.grounding_judge is None:
                judge = BackendClient(client.backend, client.policy, None, cache, bus, "generate")
            else:
                judge_backend, judge = _client(config.grounding_judge, base_dir, config, cache, bus)
                backends.append(judge_backend)
        writer = _Writer(config, client, judge, max_cost_usd)
        outcomes = await _write_all(writer, slots, config.concurrency)
    finally:
        for each in backends:
            await each.aclose()
    meter = writer.meter
    report.calls, report.cached = meter.calls, meter.cached
    report.spent_usd, report.budget_reached = round(meter.spent_usd, 6), meter.reached
    return _collect(config, slots, outcomes, report, taken or set()), report


async def _write_all(writer: _Writer, slots: list[Slot], concurrency: int) -> list[_Outcome]:
    outcomes = [_Outcome() for _ in slots]
    limiter = anyio.CapacityLimiter(concurrency)
    aborted: list[RunAborted] = []

    async def one(slot: Slot, scope: anyio.CancelScope) -> None:
        async with limiter:
            try:
                outcomes[slot.index] = await writer.write(slot)
            except RunAborted as exc:  # raised outside the task group, not as a group
                aborted.append(exc)
                scope.cancel()

    async with anyio.create_task_group() as tg:
        for slot in slots:
            tg.start_soon(one, slot, tg.cancel_scope)
    if aborted:
        raise aborted[0]
    return outcomes


def _collect(
    config: DocumentsConfig,
    slots: list[Slot],
    outcomes: list[_Outcome],
    report: DocumentsReport,
    taken: set[str],
) -> list[TestSample]:
    grounded: list[tuple[Slot, Draft, Verdict]] = []
    for slot, outcome in zip(slots, outcomes, strict=True):
        if outcome.draft is None:
            report.error_slots += int(outcome.call_failed)
            report.failed.append(_dropped(slot, outcome.error or "no reply", None))
        elif outcome.verdict is not None and outcome.verdict.failed:
            report.error_slots += int(not outcome.verdict.reason.startswith("not checked"))
            report.failed.append(_dropped(slot, outcome.verdict.reason, outcome.draft))
        elif outcome.verdict is not None and not outcome.verdict.grounded:
            report.ungrounded.append(
                _dropped(slot, outcome.verdict.reason, outcome.draft, score=outcome.verdict.score)
            )
        else:
            assert outcome.verdict is not None
            grounded.append((slot, outcome.draft, outcome.verdict))
    duplicates = near_duplicates([d.turns[0][0] for _, d, _ in grounded], config.dedupe_threshold)
    samples: list[TestSample] = []
    for index, (slot, draft, verdict) in enumerate(grounded):
        if index in duplicates:
            kept, ratio = duplicates[index]
            report.duplicates.append(
                _dropped(
                    slot,
                    f"near-duplicate of slot {grounded[kept][0].index} (ratio {ratio:.1f})",
                    draft,
                    score=ratio,
                    duplicate_of=grounded[kept][0].index,
                )
            )
            continue
        samples.append(_sample(config, slot, draft, verdict))
    _assign_ids(samples, taken)
    report.produced = len(samples)
    report.by_type = dict(Counter(str(s.metadata["origin"]["question_type"]) for s in samples))
    return samples
