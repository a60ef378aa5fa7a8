"""A synthetic generation that failed is never stored as the dataset; a short one is reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbot_tester.common.config import GeneratorConfig, SyntheticConfig
from chatbot_tester.errors import DatasetError
from chatbot_tester.generator.generate import (
    build_dataset,
    generate_dataset,
    load_synthetic_report,
)

GOOD = json.dumps({"samples": [{"input": "Q1", "expected": "A1"}]})


def synthetic(**overrides: Any) -> SyntheticConfig:
    values: dict[str, Any] = {
        "backend": "scripted",
        "instructions": "Questions customers ask.",
        "count": 2,
        "batch_size": 1,
        "max_attempts": 1,
    }
    values.update(overrides)
    return SyntheticConfig(**values)


async def test_nothing_produced_with_file_samples_raises_and_writes_no_dataset(
    tmp_path: Path,
) -> None:
    (tmp_path / "seed.csv").write_text("id,question\n1,from the file\n")
    config = GeneratorConfig(
        source=Path("seed.csv"), synthetic=synthetic(options={"default": "no JSON here"})
    )
    out = tmp_path / "ws" / "dataset.jsonl"
    with pytest.raises(DatasetError) as info:
        await generate_dataset(config, base_dir=tmp_path, out_path=out)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("generator.synthetic: produced 0 of 2 samples")
    assert "the reply is not JSON" in message and "fix the generator backend" in message
    assert not out.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["dataset.synthetic.json"]


async def test_batches_ending_on_failed_calls_raise_even_when_some_succeeded(
    tmp_path: Path,
) -> None:
    options = {
        "rules": [{"match": r"Batch 1\.", "reply": GOOD}],
        "fail": [{"match": r"Batch 2\.", "error": "bad_response", "times": None}],
    }
    out = tmp_path / "dataset.jsonl"
    config = GeneratorConfig(synthetic=synthetic(options=options))
    with pytest.raises(DatasetError) as info:
        await generate_dataset(config, base_dir=tmp_path, out_path=out)
    message = str(info.value)
    assert "produced 1 of 2 samples (1 of 2 batch(es) ended on a failed call" in message
    assert "simulated malformed response" in message and "run again" in message
    assert not out.exists()
    report = load_synthetic_report(out)
    assert report is not None and (report.produced, report.error_batches) == (1, 1)


async def test_short_only_because_of_invalid_items_is_written_and_reported(
    tmp_path: Path,
) -> None:
    options = {
        "rules": [
            {"match": r"Batch 1\.", "reply": GOOD},
            {"match": r"Batch 2\.", "reply": json.dumps({"samples": [{"input": ""}]})},
        ]
    }
    out = tmp_path / "dataset.jsonl"
    info, report = await build_dataset(
        GeneratorConfig(synthetic=synthetic(options=options)), base_dir=tmp_path, out_path=out
    )
    assert info.count == 1 and out.exists()
    assert report is not None
    assert (report.requested, report.produced, report.missing, report.error_batches) == (
        2,
        1,
        1,
        0,
    )
    assert "field 'input': empty" in report.reasons()
    again = load_synthetic_report(out)
    assert again is not None and again.missing == 1


async def test_file_only_dataset_has_no_report(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("id,question\n1,q\n")
    out = tmp_path / "d.jsonl"
    info, report = await build_dataset(
        GeneratorConfig(source=Path("d.csv")), base_dir=tmp_path, out_path=out
    )
    assert info.count == 1 and report is None and load_synthetic_report(out) is None
