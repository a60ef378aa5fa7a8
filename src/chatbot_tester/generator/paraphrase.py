"""LLM paraphrases of a dataset's user text: the ``paraphrase`` perturbation.

Every user text of a chosen sample (its input, the last user message of a chat input, each
user turn) is rewritten by ``perturbations.paraphrase`` (any registered backend) through the
shared ``BackendClient``, so the response cache makes a rerun free and the same replies give
the same variants. A failed call stores nothing (``DatasetError``); a rerun resumes from the
cache. The variants are handed to ``perturb_samples``, which places them after their parent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.schemas import ChatRequest, Message, TestSample, Turn
from chatbot_tester.errors import DatasetError

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.config_generator import PerturbationsConfig
    from chatbot_tester.common.events import EventBus

__all__ = ["PARAPHRASE_PROMPT", "paraphrase_samples"]

PARAPHRASE_PROMPT = (
    "Rewrite the user's message so that it means exactly the same but uses different words "
    "and sentence structure. Keep names, numbers and the language. Reply with the rewritten "
    "message only."
)
"""System message of every paraphrase request."""


async def paraphrase_samples(
    samples: list[TestSample],
    config: PerturbationsConfig,
    *,
    base_dir: Path,
    cache: ResponseCache | None,
    bus: EventBus | None,
    concurrency: int = 4,
) -> dict[str, TestSample]:
    """``{parent id: its paraphrase variant}`` for every chosen sample."""
    from chatbot_tester.common.backends import backend_registry

    spec = config.paraphrase
    assert spec is not None
    chosen = [s for s in samples if not config.only_tags or set(config.only_tags) & set(s.tags)]
    backend = backend_registry.create(spec.backend, base_dir=base_dir, **spec.resolved_options())
    client = BackendClient(
        backend, CallPolicy(), None, cache, bus, "generate", cache_salt="paraphrase"
    )
    limiter = anyio.CapacityLimiter(concurrency)
    out: dict[str, TestSample] = {}

    async def rewrite(sample: TestSample, text: str) -> str:
        request = ChatRequest(
            messages=[
                Message(role="system", content=PARAPHRASE_PROMPT),
                Message(role="user", content=text),
            ],
            model=spec.model,
            params={"temperature": 0, **spec.params},
            sample_id=f"{sample.id}:paraphrase",
        )
        async with limiter:
            outcome = await client.call(request, request.sample_id or "")
        if outcome.response is None or not outcome.response.text.strip():
            why = outcome.error.message if outcome.error is not None else "an empty reply"
            raise DatasetError(
                f"generator.perturbations.paraphrase: sample '{sample.id}': {why}; fix the backend "
                "and run again (answered calls are cached)"
            )
        return outcome.response.text.strip()

    async def one(sample: TestSample) -> None:
        update: dict[str, object] = {"id": f"{sample.id}~paraphrase"}
        if sample.turns is not None:
            update["turns"] = [
                Turn.model_validate({**t.model_dump(), "user": await rewrite(sample, t.user)})
                for t in sample.turns
            ]
        elif isinstance(sample.input, str):
            update["input"] = await rewrite(sample, sample.input)
        elif sample.input is not None:
            messages = list(sample.input)
            users = [i for i, m in enumerate(messages) if m.role == "user"]
            if users:
                last = users[-1]
                text = await rewrite(sample, messages[last].content)
                messages[last] = messages[last].model_copy(update={"content": text})
            update["input"] = messages
        else:
            return  # a scenario: the simulated user already words it freely
        origin = {"step": "perturbation", "parent_id": sample.id, "perturbation": "paraphrase"}
        metadata = {**sample.metadata, "origin": origin}
        if "origin" in sample.metadata:
            metadata["parent_origin"] = sample.metadata["origin"]
        update["metadata"] = metadata
        update["tags"] = [t for t in sample.tags if not t.startswith("perturbation:")] + [
            "perturbation:paraphrase"
        ]
        out[sample.id] = sample.model_copy(update=update, deep=True)

    try:
        async with anyio.create_task_group() as tg:
            for sample in chosen:
                tg.start_soon(one, sample)
    except BaseException as exc:  # a DatasetError inside the group: raise it alone
        inner = getattr(exc, "exceptions", None)
        if inner and isinstance(inner[0], DatasetError):
            raise inner[0] from None
        raise
    finally:
        await backend.aclose()
    return out
