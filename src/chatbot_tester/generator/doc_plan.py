"""``--dry-run`` estimates of the generation steps: calls and tokens, from the real requests.

The documents are read and chunked and the slots planned exactly as generation would, so the
prompt tokens are those of the first-attempt requests (counted with ``count_tokens``); replies
are estimated per turn. Retries, invalid replies and cache hits are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chatbot_tester.common.calls.cost import count_message_tokens, count_tokens
from chatbot_tester.common.config import SyntheticConfig
from chatbot_tester.common.config_generator import DocumentsConfig
from chatbot_tester.generator.chunking import chunk_documents
from chatbot_tester.generator.doc_questions import plan_slots, slot_request
from chatbot_tester.generator.doc_readers import read_documents
from chatbot_tester.generator.grounding import JUDGE_SYSTEM_PROMPT

__all__ = ["REPLY_TOKENS_PER_TURN", "DocumentsPlan", "plan_documents", "plan_synthetic"]

REPLY_TOKENS_PER_TURN = 80
"""Estimated completion tokens of one written question and answer."""
_VERDICT_TOKENS = 40


@dataclass(frozen=True)
class DocumentsPlan:
    """Estimated work of ``generator.documents`` (``judge_*`` only with ``grounding: judge``)."""

    samples: int
    turns: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    judge_calls: int = 0
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0


def plan_documents(config: DocumentsConfig, base_dir: Path) -> DocumentsPlan:
    """Read, chunk and plan as generation would; count the first-attempt requests' tokens."""
    documents = read_documents(config.files, base_dir, jsonl_field=config.jsonl_field)
    slots = plan_slots(
        config, chunk_documents(documents, config.chunk_tokens, config.chunk_overlap)
    )
    max_tokens = config.params.get("max_tokens")
    prompt = completion = turns = 0
    judge_calls = judge_prompt = 0
    judge_overhead = count_tokens(JUDGE_SYSTEM_PROMPT) + 60
    for slot in slots:
        n_turns = config.follow_up_turns if slot.qtype == "conversational" else 1
        turns += n_turns
        prompt += count_message_tokens(slot_request(config, slot, 1, []).messages, config.model)
        completion += max_tokens if isinstance(max_tokens, int) else REPLY_TOKENS_PER_TURN * n_turns
        if config.grounding == "judge":
            judge_calls += n_turns
            chunk_tokens = sum(count_tokens(c.text) for c in slot.chunks)
            judge_prompt += n_turns * (judge_overhead + chunk_tokens + REPLY_TOKENS_PER_TURN)
    return DocumentsPlan(
        samples=len(slots),
        turns=turns,
        calls=len(slots),
        prompt_tokens=prompt,
        completion_tokens=completion,
        judge_calls=judge_calls,
        judge_prompt_tokens=judge_prompt,
        judge_completion_tokens=judge_calls * _VERDICT_TOKENS,
    )


def plan_synthetic(config: SyntheticConfig, base_dir: Path) -> tuple[int, int, int]:
    """``(calls, prompt tokens, completion tokens)`` of the first attempt of every batch."""
    from chatbot_tester.generator import synthetic

    documents = synthetic.read_documents(config, base_dir)
    sizes = [
        min(config.batch_size, config.count - start)
        for start in range(0, config.count, config.batch_size)
    ]
    prompt = 0
    for batch, want in enumerate(sizes):
        document = documents[batch % len(documents)] if documents else None
        request = synthetic.batch_request(config, batch, want, 1, [], [], document)
        prompt += count_message_tokens(request.messages, config.model)
    return len(sizes), prompt, REPLY_TOKENS_PER_TURN * config.count
