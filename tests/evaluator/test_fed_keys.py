"""``FedKeys`` answers membership exactly as the set of key strings it replaces."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from chatbot_tester.evaluator.records import DatasetIndex, FedKeys


def test_fed_keys_match_a_set_of_key_strings(tmp_path: Path) -> None:
    ids = [f"s{i}" for i in range(50)] + ["a#1", "b"]  # an id that looks like a repeat key
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"id": i, "input": "q"}) + b"\n" for i in ids))
    rng = random.Random(7)
    with DatasetIndex(path, validate=False) as index:
        fed, expected = FedKeys(index), set()
        for _ in range(300):
            sample_id = rng.choice([*ids, "a", "orphan"])  # "orphan" is not in the dataset
            repeat = rng.choice([0, 0, 1, 2])
            key = sample_id if repeat == 0 else f"{sample_id}#{repeat}"
            assert fed.claim(sample_id, repeat) is (key not in expected)
            expected.add(key)
        assert len(fed) == len(expected)
        for probe in [*ids, "a", "a#1", "a#2", "b#1", "orphan", "orphan#1", "nope"]:
            assert (probe in fed) is (probe in expected), probe
        assert 3 not in fed


def test_the_index_keeps_positions_lines_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "x", "input": "one"}\n\n{"id": "y", "input": "two"}\n')
    with DatasetIndex(path) as index:
        assert [index.position("x"), index.position("y"), index.position("z")] == [0, 1, None]
        assert index.line_of("y") == 3
        assert index.get("y").input == "two" and index.get("x").input == "one"
