"""generator.documents: planned type mix, tracing, grounding drops, near-duplicates, seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from doc_kit import NEAR_DUP_Q, RETURNS_Q, UNGROUNDED_A, documents_config, write_docs

from chatbot_tester.common.artifacts.cache import ResponseCache
from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.common.config_generator import DocumentsConfig
from chatbot_tester.generator.chunking import chunk_documents
from chatbot_tester.generator.doc_questions import allocate
from chatbot_tester.generator.doc_readers import read_documents
from chatbot_tester.generator.documents import generate_from_documents
from chatbot_tester.generator.generate import dataset_fingerprint, generate_dataset


def config(**overrides: Any) -> DocumentsConfig:
    return DocumentsConfig.model_validate(documents_config(**overrides))


async def test_ungrounded_and_near_duplicate_are_dropped_and_reported(tmp_path: Path) -> None:
    write_docs(tmp_path)
    samples, report = await generate_from_documents(config(), base_dir=tmp_path)
    questions = [s.input for s in samples]
    assert (report.requested, report.produced, report.documents, report.chunks) == (5, 3, 5, 5)
    assert UNGROUNDED_A not in [s.expected for s in samples]
    assert [d.answer for d in report.ungrounded] == [UNGROUNDED_A]
    assert report.ungrounded[0].score == 0.0 and "not in the chunks" in report.ungrounded[0].reason
    # exactly one of the two near-identical questions survives: the earlier slot's
    assert len(report.duplicates) == 1 and len({RETURNS_Q, NEAR_DUP_Q} & set(questions)) == 1
    dup = report.duplicates[0]
    kept = next(s for s in samples if s.input in {RETURNS_Q, NEAR_DUP_Q})
    assert dup.duplicate_of == kept.metadata["origin"]["slot"] and dup.score is not None
    assert dup.score >= 90 and dup.question in {RETURNS_Q, NEAR_DUP_Q} - {kept.input}
    assert [s.id for s in samples] == ["doc-0001", "doc-0002", "doc-0003"]
    assert report.by_type == {"factual": 3} and report.summary().startswith("3 of 5 samples kept")


async def test_every_sample_is_traced_to_its_chunks(tmp_path: Path) -> None:
    write_docs(tmp_path)
    cfg = config(
        count=12, mix=DocumentsConfig.model_fields["mix"].get_default(call_default_factory=True)
    )
    chunks = {c.id: c for c in chunk_documents(read_documents(cfg.files, tmp_path), 200, 40)}
    samples, report = await generate_from_documents(cfg, base_dir=tmp_path)
    assert report.planned_by_type == allocate(cfg.mix, 12)
    assert set(report.planned_by_type) == {
        "factual", "multi_hop", "comparison", "conditional", "unanswerable", "conversational"
    }  # fmt: skip
    assert report.produced + report.dropped == 12 and not report.failed
    for sample in samples:
        origin = sample.metadata["origin"]
        qtype = origin["question_type"]
        assert origin["generator"] == "documents" and origin["seed"] == 7
        assert f"qtype:{qtype}" in sample.tags
        used = [chunks[c["id"]] for c in origin["chunks"]]
        assert sample.context == [c.text for c in used]
        for ref, chunk in zip(origin["chunks"], used, strict=True):
            assert (ref["source"], ref["start"], ref["end"]) == (
                chunk.source,
                chunk.start,
                chunk.end,
            )
            doc = (tmp_path / ref["source"]).read_text()
            assert doc[ref["start"] : ref["end"]] == chunk.text
        assert len(used) == {
            "multi_hop": len(used) if len(used) in (2, 3) else -1,
            "comparison": 2,
        }.get(qtype, 1)
        if qtype == "conversational":
            assert sample.turns is not None and len(sample.turns) == 2
            assert all(t.expected for t in sample.turns)
        if qtype == "unanswerable":
            assert sample.expected == cfg.unanswerable_answer
            assert [(a.type, a.options) for a in sample.assertions] == [
                ("refusal", {"expect": "refuse"})
            ]


async def test_same_seed_same_dataset_and_docs_in_the_fingerprint(tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    gen = GeneratorConfig.model_validate(
        {
            "documents": documents_config(
                count=12, mix={"factual": 1, "conversational": 1, "multi_hop": 1}
            )
        }
    )
    first, again, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    await generate_dataset(gen, base_dir=tmp_path, out_path=first)
    await generate_dataset(gen, base_dir=tmp_path, out_path=again)
    assert first.read_bytes() == again.read_bytes()
    reseeded = gen.model_copy(update={"documents": gen.documents.model_copy(update={"seed": 8})})  # type: ignore[union-attr]
    await generate_dataset(reseeded, base_dir=tmp_path, out_path=other)
    assert other.read_bytes() != first.read_bytes()
    report = json.loads((tmp_path / "a.documents.json").read_text())
    assert report["produced"] == len(first.read_text().splitlines())
    before = dataset_fingerprint(gen, tmp_path)
    (docs / "stores.md").write_text("The Denver store closes at 9 pm.")
    assert dataset_fingerprint(gen, tmp_path) != before
    (docs / "new.md").write_text("A new document.")
    assert len({before, dataset_fingerprint(gen, tmp_path)}) == 2


async def test_cache_replays_the_generation(tmp_path: Path) -> None:
    write_docs(tmp_path)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        cold_samples, cold = await generate_from_documents(config(), base_dir=tmp_path, cache=cache)
        cache.flush()
        warm_samples, warm = await generate_from_documents(config(), base_dir=tmp_path, cache=cache)
    finally:
        cache.close()
    assert cold.cached == 0 and warm.cached == warm.calls == cold.calls == 5
    assert [s.model_dump() for s in warm_samples] == [s.model_dump() for s in cold_samples]


async def test_judge_grounding_drops_what_the_judge_rejects(tmp_path: Path) -> None:
    write_docs(tmp_path)
    judge = {
        "backend": "scripted",
        "options": {
            "rules": [
                {
                    "contains": f"Answer: {UNGROUNDED_A}",
                    "reply": '{"grounded": false, "reason": "not in the passage"}',
                }
            ],
            "default": '{"grounded": true, "reason": "supported"}',
        },
    }
    cfg = config(grounding="judge", grounding_judge=judge, dedupe_threshold=100)
    samples, report = await generate_from_documents(cfg, base_dir=tmp_path)
    assert report.produced == 4 and not report.duplicates  # 100: only exact repeats go
    assert [d.answer for d in report.ungrounded] == [UNGROUNDED_A]
    assert report.ungrounded[0].reason.startswith("judge: not supported")
    assert report.calls == 10  # 5 questions + 5 verdicts
    assert all(s.metadata["grounding"]["method"] == "judge" for s in samples)


async def test_invalid_replies_are_retried_then_reported(tmp_path: Path) -> None:
    write_docs(tmp_path)
    cfg = config(options={"default": "not JSON"}, max_attempts=2)
    gen = GeneratorConfig(documents=cfg)
    from chatbot_tester.errors import DatasetError

    with pytest.raises(
        DatasetError, match=r"0 of 5 samples kept .* 5 failed dropped\): no sample left"
    ):
        await generate_dataset(gen, base_dir=tmp_path, out_path=tmp_path / "d.jsonl")
    assert not (tmp_path / "d.jsonl").exists()
    report = json.loads((tmp_path / "d.documents.json").read_text())
    assert [f["reason"] for f in report["failed"]] == ["the reply is not JSON"] * 5
    assert report["calls"] == 10


def test_config_rejects_bad_shapes() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="chunk_overlap"):
        config(chunk_tokens=20, chunk_overlap=20)
    with pytest.raises(ValidationError, match="weight above 0"):
        config(mix={"factual": 0})
    with pytest.raises(ValidationError, match="mix"):
        config(mix={"trivia": 1})
    with pytest.raises(ValidationError, match="personas"):
        config(personas=[{"name": "x"}])


WRITER = """
import json
from pathlib import Path

from chatbot_tester.errors import BackendHTTPError

FLAG = Path(__file__).with_name("fail-warranty")


def write(prompt: str) -> str:
    if "warranty" in prompt and FLAG.exists():
        raise BackendHTTPError("HTTP 503: simulated outage", status_code=503, retryable=True)
    topic = prompt.split("Passage 1 (docs/", 1)[1].split(".md", 1)[0]
    body = prompt.split("):\\n", 1)[1].split("\\n\\nWrite one", 1)[0]
    sentence = body.split("\\n\\n")[-1].split(". ")[0]
    return json.dumps({"question": f"What about {topic}?", "answer": sentence})
"""


async def test_a_failed_call_stores_nothing_and_the_rerun_replays_the_cache(tmp_path: Path) -> None:
    from chatbot_tester.errors import DatasetError

    write_docs(tmp_path)
    (tmp_path / "ct_doc_writer.py").write_text(WRITER)
    (tmp_path / "fail-warranty").write_text("")
    docs = documents_config(
        backend="python",
        options={"function": "ct_doc_writer:write", "search_path": str(tmp_path)},
        retries=0,
        max_attempts=1,
    )
    gen = GeneratorConfig.model_validate({"documents": docs})
    out = tmp_path / "d.jsonl"
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        with pytest.raises(DatasetError, match="1 of 5 slot"):
            await generate_dataset(gen, base_dir=tmp_path, out_path=out, cache=cache)
        assert not out.exists()
        failed = json.loads((tmp_path / "d.documents.json").read_text())
        assert failed["error_slots"] == 1 and "simulated outage" in failed["failed"][0]["reason"]
        cache.flush()
        (tmp_path / "fail-warranty").unlink()
        info = await generate_dataset(gen, base_dir=tmp_path, out_path=out, cache=cache)
    finally:
        cache.close()
    report = json.loads((tmp_path / "d.documents.json").read_text())
    assert (report["calls"], report["cached"], info.count) == (5, 4, 5)


async def test_personas_are_drawn_per_slot_and_recorded(tmp_path: Path) -> None:
    from chatbot_tester.generator.chunking import chunk_documents as chunk_all
    from chatbot_tester.generator.doc_questions import plan_slots, slot_request

    write_docs(tmp_path)
    personas = [
        {"role": "nurse", "expertise": "expert", "tone": "terse"},
        {"role": "student", "language": "French"},
    ]
    cfg = config(personas=personas, dedupe_threshold=100)
    slots = plan_slots(cfg, chunk_all(read_documents(cfg.files, tmp_path), 200, 40))
    assert {s.persona.role for s in slots if s.persona} == {"nurse", "student"}
    prompt = (
        slot_request(
            cfg, next(s for s in slots if s.persona and s.persona.role == "student"), 1, []
        )
        .messages[1]
        .content
    )
    assert (
        "Write as this user would ask: a student (intermediate expertise, neutral tone), in French."
        in prompt
    )
    samples, _ = await generate_from_documents(cfg, base_dir=tmp_path)
    for sample in samples:
        persona = sample.metadata["origin"]["persona"]
        assert (
            persona["role"] in {"nurse", "student"} and f"persona:{persona['role']}" in sample.tags
        )


async def test_max_cost_stops_cleanly_and_the_rerun_resumes_from_the_cache(tmp_path: Path) -> None:
    from chatbot_tester.errors import ConfigError, DatasetError

    write_docs(tmp_path)
    docs = documents_config(model="gpt-4o-mini", concurrency=1)
    out = tmp_path / "d.jsonl"
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        tight = GeneratorConfig.model_validate({"documents": docs, "max_cost_usd": 0.00002})
        with pytest.raises(
            DatasetError, match=r"max_cost_usd reached after \$0\.0000.*nothing stored"
        ):
            await generate_dataset(tight, base_dir=tmp_path, out_path=out, cache=cache)
        assert not out.exists()
        stopped = json.loads((tmp_path / "d.documents.json").read_text())
        answered = stopped["calls"]
        assert stopped["budget_reached"] and 0 < answered < 5 and stopped["spent_usd"] >= 0.00002
        assert len(stopped["failed"]) == 5 - answered
        assert all(
            f["reason"].startswith("not written: generator.max_cost_usd") for f in stopped["failed"]
        )
        cache.flush()
        roomy = tight.model_copy(update={"max_cost_usd": 1.0})
        info = await generate_dataset(roomy, base_dir=tmp_path, out_path=out, cache=cache)
    finally:
        cache.close()
    resumed = json.loads((tmp_path / "d.documents.json").read_text())
    assert (resumed["calls"], resumed["cached"], info.count) == (5, answered, 3)
    unpriced = GeneratorConfig.model_validate(
        {"documents": documents_config(), "max_cost_usd": 1.0}
    )
    with pytest.raises(ConfigError, match="no price is known for model 'None'"):
        await generate_dataset(unpriced, base_dir=tmp_path, out_path=tmp_path / "u.jsonl")


def test_linking_by_terms_joins_chunks_about_the_same_thing(tmp_path: Path) -> None:
    from chatbot_tester.generator.doc_questions import plan_slots
    from chatbot_tester.generator.doc_readers import Document

    docs = [
        Document("a.md", "The Summit jacket is waterproof and weighs 400 grams."),
        Document("b.md", "Standard shipping takes three business days."),
        Document("c.md", "Wash the Summit jacket at 30 degrees; it stays waterproof."),
        Document("d.md", "Gift cards never expire and work in every store."),
        Document("e.md", "Express shipping takes one business day and costs extra."),
    ]
    chunks = chunk_documents(docs, 200, 40)
    cfg = config(mix={"comparison": 1}, count=10, linking="terms")
    pairs = {tuple(c.source for c in s.chunks) for s in plan_slots(cfg, chunks)}
    # each chunk is paired with the one it shares rare words with (jacket / shipping), never d.md
    # unless it is the first pick (it shares nothing with anyone)
    assert ("a.md", "c.md") in pairs and ("b.md", "e.md") in pairs
    assert all(set(p) in ({"a.md", "c.md"}, {"b.md", "e.md"}) for p in pairs if "d.md" not in p)


GENERATE_SCRIPT = """
import asyncio, sys
from pathlib import Path
from chatbot_tester.common.artifacts.cache import open_cache
from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.generator.generate import generate_dataset

gen = GeneratorConfig.model_validate_json(Path(sys.argv[1]).read_text())
cache = open_cache(Path(sys.argv[2]))
try:
    asyncio.run(generate_dataset(gen, base_dir=Path(sys.argv[3]), out_path=Path(sys.argv[4]), cache=cache))
finally:
    cache.close()
"""


def _rows(db: Path) -> int:
    import contextlib
    import sqlite3

    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        ) as conn:
            return int(conn.execute("SELECT count(*) FROM responses").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
async def test_sigkill_mid_generation_then_rerun_replays_answered_calls(tmp_path: Path) -> None:
    import asyncio
    import signal
    import sys

    write_docs(tmp_path)
    docs = documents_config(count=20, mix={"factual": 1, "conversational": 1}, concurrency=1)
    docs["options"] = {**docs["options"], "latency_ms": 150}
    gen = GeneratorConfig.model_validate({"documents": docs})
    (tmp_path / "gen.json").write_text(gen.model_dump_json())
    (tmp_path / "gen_it.py").write_text(GENERATE_SCRIPT)
    ws, out = tmp_path / "ws", tmp_path / "d.jsonl"
    argv = [
        sys.executable,
        str(tmp_path / "gen_it.py"),
        str(tmp_path / "gen.json"),
        str(ws),
        str(tmp_path),
        str(out),
    ]
    proc = await asyncio.create_subprocess_exec(*argv)
    db = ws / "cache" / "responses.sqlite"
    for _ in range(1000):  # kill once a few answers are in the cache (20 calls take ~3 s)
        if proc.returncode is not None or (db.exists() and _rows(db) >= 3):
            break
        await asyncio.sleep(0.01)
    assert proc.returncode is None, "generation finished before the kill: slow the writer down"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert not out.exists()  # nothing half-written
    proc = await asyncio.create_subprocess_exec(*argv)
    assert await proc.wait() == 0
    report = json.loads((tmp_path / "d.documents.json").read_text())
    assert 0 < report["cached"] < report["calls"] == 20
    # the same dataset as one uninterrupted generation
    fresh = tmp_path / "fresh.jsonl"
    await generate_dataset(gen, base_dir=tmp_path, out_path=fresh)
    assert fresh.read_bytes() == out.read_bytes()


async def test_max_cost_also_bounds_synthetic_generation(tmp_path: Path) -> None:
    from test_generator_synthetic import synthetic as synthetic_config

    from chatbot_tester.errors import DatasetError

    gen = GeneratorConfig(
        synthetic=synthetic_config(model="gpt-4o-mini", count=6, batch_size=1, max_attempts=1),
        max_cost_usd=0.000001,
    )
    with pytest.raises(
        DatasetError, match=r"max_cost_usd reached after \$0\.0000: \d of 6 synthetic"
    ):
        await generate_dataset(gen, base_dir=tmp_path, out_path=tmp_path / "s.jsonl")
    assert not (tmp_path / "s.jsonl").exists()
    report = json.loads((tmp_path / "s.synthetic.json").read_text())
    assert report["budget_reached"] and report["calls"] < 6
    assert any(
        e["error"].startswith("not written: generator.max_cost_usd") for e in report["errors"]
    )
