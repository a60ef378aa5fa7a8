"""Synthetic generation with the scripted backend: parsing, retries, reports, ids, cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbot_tester.common.artifacts.cache import ResponseCache
from chatbot_tester.common.config import GeneratorConfig, SyntheticConfig
from chatbot_tester.errors import RunAborted
from chatbot_tester.generator.generate import dataset_fingerprint, generate_dataset
from chatbot_tester.generator.synthetic import generate_synthetic, parse_items

BATCH1 = (
    "Sure! Here you go:\n```json\n"
    + json.dumps(
        {
            "samples": [
                {"input": "Q1", "expected": "A1", "tags": "billing"},
                {"question": "Q2", "answer": "A2", "difficulty": "hard"},
                {"expected": "an item without input"},
            ]
        }
    )
    + "\n```"
)
BATCH1_RETRY = json.dumps({"samples": [{"input": "Q3", "expected": "A3"}]})
BATCH2 = json.dumps({"samples": [{"input": "Q4"}, {"input": 5}]})


def synthetic(**overrides: Any) -> SyntheticConfig:
    options = {
        "rules": [
            {"match": r"Batch 1\.[\s\S]*Attempt 2", "reply": BATCH1_RETRY},
            {"match": r"Batch 1\.", "reply": BATCH1},
            {"match": r"Batch 2\.", "reply": BATCH2},
        ]
    }
    values: dict[str, Any] = {
        "backend": "scripted",
        "options": options,
        "instructions": "Questions customers ask an outdoor store.",
        "count": 5,
        "batch_size": 3,
        "max_attempts": 2,
    }
    values.update(overrides)
    return SyntheticConfig(**values)


def test_parse_items_handles_fences_aliases_and_bad_items() -> None:
    samples, errors = parse_items(BATCH1)
    assert [(s.input, s.expected, s.tags) for s in samples] == [
        ("Q1", "A1", ["billing"]),
        ("Q2", "A2", []),
    ]
    assert samples[1].metadata == {"difficulty": "hard"}
    assert [(i, "exactly one of 'input' or 'turns'" in e) for i, e, _ in errors] == [(2, True)]
    assert parse_items("I cannot do that")[1][0][:2] == (None, "the reply is not JSON")
    assert parse_items('[{"input": "bare list"}]')[0][0].input == "bare list"
    assert parse_items('{"nope": 1}')[1][0][1].startswith("expected")


async def test_invalid_items_are_retried_then_reported(tmp_path: Path) -> None:
    samples, report = await generate_synthetic(synthetic(), base_dir=tmp_path)
    assert [s.input for s in samples] == ["Q1", "Q2", "Q3", "Q4"]
    assert [s.id for s in samples] == ["syn-0001", "syn-0002", "syn-0003", "syn-0004"]
    assert (report.requested, report.produced, report.missing) == (5, 4, 1)
    assert (report.batches, report.failed_batches, report.calls) == (2, 1, 4)
    assert (
        report.invalid == 4
    )  # b1: no input; b2 attempt 1: input 5; attempt 2: duplicate + input 5
    assert {(e.batch, e.attempt) for e in report.errors} == {(1, 2)}
    messages = " | ".join(e.error for e in report.errors)
    assert "duplicate input" in messages and "field 'input'" in messages


async def test_seed_orders_deterministically(tmp_path: Path) -> None:
    first, _ = await generate_synthetic(synthetic(seed=7), base_dir=tmp_path)
    again, _ = await generate_synthetic(synthetic(seed=7), base_dir=tmp_path)
    plain, _ = await generate_synthetic(synthetic(), base_dir=tmp_path)
    assert [s.input for s in first] == [s.input for s in again]
    assert sorted(s.input for s in first) == sorted(s.input for s in plain)
    assert [s.id for s in first] == ["syn-0001", "syn-0002", "syn-0003", "syn-0004"]


async def test_ids_avoid_file_ids_and_report_is_written(tmp_path: Path) -> None:
    (tmp_path / "seed.csv").write_text("id,question\nsyn-0001,from file\n")
    config = GeneratorConfig(source=Path("seed.csv"), synthetic=synthetic())
    out = tmp_path / "dataset.jsonl"
    info = await generate_dataset(config, base_dir=tmp_path, out_path=out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["syn-0001", "syn-0002", "syn-0003", "syn-0004", "syn-0005"]
    assert rows[0]["input"] == "from file"
    assert info.count == 5
    report = json.loads((tmp_path / "dataset.synthetic.json").read_text())
    assert (report["produced"], report["missing"], report["failed_batches"]) == (4, 1, 1)
    assert report["errors"]


async def test_cache_serves_the_second_generation(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        _, cold = await generate_synthetic(synthetic(), base_dir=tmp_path, cache=cache)
        cache.flush()
        samples, warm = await generate_synthetic(synthetic(), base_dir=tmp_path, cache=cache)
    finally:
        cache.close()
    assert cold.cached == 0
    assert warm.cached == warm.calls == cold.calls
    assert [s.input for s in samples] == ["Q1", "Q2", "Q3", "Q4"]


async def test_documents_become_context_and_change_the_fingerprint(tmp_path: Path) -> None:
    doc = tmp_path / "policy.md"
    doc.write_text("Returns are accepted within 30 days.")
    config = synthetic(
        count=1,
        batch_size=1,
        documents=[Path("policy.md")],
        options={
            "rules": [{"match": "Returns are accepted", "reply": '{"samples": [{"input": "Q?"}]}'}]
        },
    )
    samples, report = await generate_synthetic(config, base_dir=tmp_path)
    assert report.produced == 1 and samples[0].context == ["Returns are accepted within 30 days."]
    gen = GeneratorConfig(synthetic=config)
    before = dataset_fingerprint(gen, tmp_path)
    doc.write_text("Returns are accepted within 60 days.")
    assert dataset_fingerprint(gen, tmp_path) != before


async def test_fatal_backend_error_aborts(tmp_path: Path) -> None:
    config = synthetic(options={"fail": [{"error": "auth", "times": None}]})
    with pytest.raises(RunAborted, match="simulated invalid API key"):
        await generate_synthetic(config, base_dir=tmp_path)


async def test_nothing_valid_is_an_empty_dataset_error(tmp_path: Path) -> None:
    from chatbot_tester.errors import DatasetError

    config = GeneratorConfig(synthetic=synthetic(options={"default": "no JSON here"}))
    with pytest.raises(DatasetError, match="produced 0 of 5 samples"):
        await generate_dataset(config, base_dir=tmp_path, out_path=tmp_path / "d.jsonl")
    assert not (tmp_path / "d.jsonl").exists()
    report = json.loads((tmp_path / "d.synthetic.json").read_text())
    assert report["produced"] == 0 and report["errors"][0]["error"] == "the reply is not JSON"


async def test_a_question_two_batches_ask_is_kept_once(tmp_path: Path) -> None:
    same = json.dumps({"samples": [{"input": "Where is my order?"}, {"input": "Hi"}]})
    other = json.dumps({"samples": [{"input": "  where is MY order? "}, {"input": "Bye"}]})
    options = {"rules": [{"match": r"Batch 1\.", "reply": same}, {"match": ".", "reply": other}]}
    config = synthetic(options=options, count=4, batch_size=2, max_attempts=1)
    samples, report = await generate_synthetic(config, base_dir=tmp_path)
    assert [s.input for s in samples] == ["Where is my order?", "Hi", "Bye"]
    assert (report.produced, report.missing, report.invalid) == (3, 1, 1)
    assert [e.error for e in report.errors] == ["duplicate input (also in batch 1)"]


async def test_generator_spend_is_counted_and_cache_hits_are_free(tmp_path: Path) -> None:
    from chatbot_tester.common.calls.cost import PriceTable

    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        _, cold = await generate_synthetic(
            synthetic(model="gpt-4o-mini"), base_dir=tmp_path, cache=cache
        )
        cache.flush()
        _, warm = await generate_synthetic(
            synthetic(model="gpt-4o-mini"), base_dir=tmp_path, cache=cache
        )
    finally:
        cache.close()
    assert cold.prompt_tokens > 0 and cold.completion_tokens > 0
    price = PriceTable().price("gpt-4o-mini")
    assert price is not None
    expected = (
        cold.prompt_tokens * price.input_per_million
        + cold.completion_tokens * price.output_per_million
    ) / 1_000_000
    assert cold.cost_usd is not None and abs(cold.cost_usd - expected) < 1e-12
    assert cold.spend().startswith(f"{cold.calls} calls, ")
    assert warm.prompt_tokens == warm.completion_tokens == 0 and warm.cost_usd is None
    assert f"({warm.cached} cached)" in warm.spend()
