"""The Ray driver's compact key set and part-file merging: each (sample id, repeat) once.

No Ray here: ``PartMerger`` and ``CompactKeys`` are the driver's exactly-once bookkeeping,
tested on real files.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from chatbot_tester.runner.keyset import CompactKeys, key_digest
from chatbot_tester.runner.resume import ResultsState, load_results
from chatbot_tester.runner.shard_merge import PartMerger


def _record(sid: str, repeat: int = 0, *, error: bool = False) -> dict[str, object]:
    obj: dict[str, object] = {"sample_id": sid, "repeat": repeat, "output": f"answer {sid}"}
    if error:
        obj["error"] = {"kind": "timeout", "message": "slow"}
    return obj


def _part(path: Path, records: list[dict[str, object]], *, torn: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(orjson.dumps(r) + b"\n" for r in records)
    path.write_bytes(data + (b'{"sample_id": "torn' if torn else b""))
    return path


def _lines(path: Path) -> Counter[tuple[str, int]]:
    found: Counter[tuple[str, int]] = Counter()
    for line in path.read_bytes().splitlines():
        obj = orjson.loads(line)
        found[(obj["sample_id"], obj["repeat"])] += 1
    return found


def test_compact_keys_behave_as_a_set_across_folds() -> None:
    keys = CompactKeys()
    n = 70_000  # more than two folds of the recent set into the sorted array
    for i in range(n):
        assert keys.add((f"s{i}", i % 3))
    assert len(keys) == n
    assert all((f"s{i}", i % 3) in keys for i in range(0, n, 7))
    assert ("s1", 0) not in keys and ("s1", 1) in keys and ("s-1", 0) not in keys
    assert not keys.add(("s5", 2)) and len(keys) == n  # already there
    assert keys.nbytes < 24 * n  # a set of tuples would take ~200 bytes a key


def test_digests_never_end_with_a_zero_byte_and_tell_ids_apart() -> None:
    ids = ["", "a", "a\x1f0", "é", "\ud800", "x" * 10_000]
    digests = {key_digest(sid, r) for sid in ids for r in (0, 1, 10)}
    assert len(digests) == len(ids) * 3
    assert all(len(d) == 16 and d[-1] != 0 for d in digests)
    keys = CompactKeys(("a\x1f0", 0) for _ in range(3))
    assert len(keys) == 1 and ("a", 0) not in keys


def test_a_retried_shards_duplicate_records_are_not_appended(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    shards = tmp_path / "shards"
    merger = PartMerger(results, ResultsState(CompactKeys()))
    first = _part(shards / "part-0-0.jsonl", [_record(f"s{i}") for i in range(10)], torn=True)
    assert merger.merge(first) == 10
    # the retry of shard 0 (its worker was taken for dead but had written s5..s9 too)
    retry = [_record(f"s{i}") for i in range(5, 15)] + [_record("s3", error=True)]
    assert merger.merge(_part(shards / "part-0-1.jsonl", retry)) == 5
    merger.close()
    found = _lines(results)
    assert found == Counter({(f"s{i}", 0): 1 for i in range(15)})
    assert merger.merged == 15 and merger.state.tally.ok == 15
    assert not any(shards.iterdir())  # merged part files are deleted


def test_resume_merges_leftovers_once_against_the_results_already_there(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results.jsonl"
    results.write_bytes(
        b"".join(orjson.dumps(_record(f"s{i}", r)) + b"\n" for i in range(4) for r in (0, 1))
    )
    shards = tmp_path / "shards"
    _part(shards / "part-0-0.jsonl", [_record("s0", 1), _record("s4", 0), _record("s4", 1)])
    _part(shards / "part-3-0.jsonl", [_record("s4", 0), _record("s5", 0, error=True)], torn=True)
    state = load_results(results, CompactKeys())
    assert isinstance(state.done, CompactKeys) and len(state.done) == 8
    merger = PartMerger(results, state)
    assert merger.merge_leftovers(shards) == 3
    merger.close()
    found = _lines(results)
    assert set(found.values()) == {1} and len(found) == 11
    assert state.tally.ok == 10 and state.tally.errors == {"timeout": 1}
    assert ("s5", 0) in state.done and ("s5", 1) not in state.done
