"""JSONL round-trips, error locations, crash-safe appends and torn-tail repair."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel

from chatbot_tester.common.artifacts.jsonl import (
    JsonlAppender,
    dump_line,
    iter_json_objects,
    iter_jsonl,
    repair_torn_tail,
    write_jsonl_atomic,
)
from chatbot_tester.common.schemas import (
    Assertion,
    ChatResponse,
    DatasetInfo,
    ErrorInfo,
    Manifest,
    Message,
    RunRecord,
    Score,
    TestSample,
    ToolCall,
    Turn,
    TurnRecord,
    Usage,
)
from chatbot_tester.common.types import ErrorKind, RunStatus
from chatbot_tester.errors import DatasetError

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)

MODELS: list[BaseModel] = [
    TestSample(id="plain", input="What is 2+2?", expected="4", tags=["math"]),
    TestSample(
        id="chat",
        input=[Message(role="system", content="be brief"), Message(role="user", content="hi ü")],
        expected=["hello", "hi"],
        context=["doc"],
        assertions=[Assertion(type="contains", value="hel")],
        metadata={"nested": {"a": [1, 2.5, None]}},
    ),
    TestSample(
        id="turns",
        turns=[Turn(user="a"), Turn(user="b", expected="B", assertions=[Assertion(type="regex")])],
    ),
    RunRecord(
        sample_id="plain",
        response=ChatResponse(
            text="4",
            usage=Usage(prompt_tokens=3, completion_tokens=1, total_tokens=4),
            tool_calls=[ToolCall(id="c1", name="calc", arguments={"x": 1})],
            raw={"id": "x", "choices": []},
        ),
        backend="openai",
        model="m",
        latency_ms=12.5,
        cost_usd=0.001,
        started_at=T0,
        finished_at=T0,
    ),
    RunRecord(
        sample_id="chat",
        repeat=2,
        error=ErrorInfo(kind=ErrorKind.TIMEOUT, message="timed out", status_code=None),
        attempts=4,
        backend="http",
        started_at=T0,
        finished_at=T0,
    ),
    RunRecord(
        sample_id="turns",
        turns=[TurnRecord(index=0, user="a", response=ChatResponse(text="x"), latency_ms=1.0)],
        response=ChatResponse(text="x"),
        backend="scripted",
        started_at=T0,
        finished_at=T0,
    ),
    Score(sample_id="plain", metric="exact_match", value=1.0, passed=True, details={"k": [1]}),
    Score(sample_id="turns", turn=1, metric="assert:regex", error="no reference"),
    Manifest(
        run_id="r1",
        pipeline="p",
        status=RunStatus.COMPLETED,
        config={"runner": {"options": {"api_key": "${KEY}"}}},
        dataset=DatasetInfo(id="d", hash="sha256:00", count=3),
        versions={"python": "3.11"},
        created_at=T0,
        updated_at=T0,
        counts={"samples": 3},
    ),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_round_trip_every_schema_model(tmp_path: Path, model: BaseModel) -> None:
    path = tmp_path / "x.jsonl"
    line = dump_line(model)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    path.write_bytes(line + line)
    back = list(iter_jsonl(path, type(model)))
    assert back == [model, model]
    assert dump_line(back[0]) == line


def test_write_jsonl_atomic_and_iter_objects(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    samples = [m for m in MODELS if isinstance(m, TestSample)]
    assert write_jsonl_atomic(path, iter(samples)) == 3
    assert list(iter_jsonl(path, TestSample)) == samples
    objs = list(iter_json_objects(path))
    assert [n for n, _ in objs] == [1, 2, 3]
    assert objs[1][1]["id"] == "chat"
    assert [p.name for p in tmp_path.iterdir()] == ["d.jsonl"]  # no temp file left


def test_atomic_write_failure_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"old\n")

    def boom():  # type: ignore[no-untyped-def]
        yield TestSample(id="a", input="x")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(path, boom())
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["d.jsonl"]


def _error(tmp_path: Path, content: bytes) -> DatasetError:
    path = tmp_path / "dataset.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        list(iter_jsonl(path, TestSample))
    return info.value


GOOD = b'{"id":"a","input":"hi"}\n'


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD + b"\n" + GOOD + b'{"id": "b", \n')
    assert err.line == 4
    assert err.file is not None and err.file.endswith("dataset.jsonl")
    assert str(err).startswith(f"{err.file}:4: bad JSON:")


def test_validation_error_names_field(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD * 6 + b'{"id":"","input":"x"}\n')
    assert err.line == 7
    assert str(err).endswith(":7: field 'id': String should have at least 1 character")


def test_unknown_field_did_you_mean(tmp_path: Path) -> None:
    err = _error(tmp_path, b'{"id":"a","inptu":"x"}\n')
    assert "field 'inptu': unknown field (did you mean 'input'?)" in str(err)


def test_nested_union_error_points_at_inner_field(tmp_path: Path) -> None:
    err = _error(tmp_path, b'{"id":"a","input":[{"role":"bot","content":"x"}]}\n')
    assert "field 'input.0.role'" in str(err)
    err = _error(tmp_path, b'{"id":"a","input":5}\n')
    assert "field 'input': expected a string or a list, got 5 (int)" in str(err)


def test_not_an_object_and_model_level_error(tmp_path: Path) -> None:
    assert "expected a JSON object per line, got list" in str(_error(tmp_path, b"[1]\n"))
    err = _error(tmp_path, b'{"id":"a"}\n')
    assert str(err).endswith(":1: a sample needs exactly one of 'input' or 'turns'")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file not found"):
        list(iter_jsonl(tmp_path / "nope.jsonl", TestSample))


def test_reading_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(GOOD + b"not json at all\n")
    it = iter_jsonl(path, TestSample)
    assert next(it).id == "a"  # the bad second line is not read yet
    with pytest.raises(DatasetError):
        next(it)


def test_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD + b"\n   \n" + GOOD.replace(b'"a"', b'"b"'))
    assert [s.id for s in iter_jsonl(path, TestSample)] == ["a", "b"]


def test_skip_torn_tail_option(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(GOOD + b'{"id":"b","inp')
    assert [s.id for s in iter_jsonl(path, TestSample, skip_torn_tail=True)] == ["a"]
    with pytest.raises(DatasetError):
        list(iter_jsonl(path, TestSample))


def _records(n: int) -> list[RunRecord]:
    return [RunRecord(sample_id=f"s{i}", backend="echo", started_at=T0) for i in range(n)]


def test_appender_appends_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with JsonlAppender(path) as app:
        for rec in _records(3):
            app.write(rec)
        # flushed per record: visible to another reader before close
        assert len(path.read_bytes().splitlines()) == 3
    with JsonlAppender(path, fsync=True) as app:
        app.write(_records(1)[0])
    assert [r.sample_id for r in iter_jsonl(path, RunRecord)] == ["s0", "s1", "s2", "s0"]
    with pytest.raises(ValueError, match="closed"):
        app.write(_records(1)[0])


@pytest.mark.parametrize(
    "tail",
    [b'{"schema_version":1,"sample_id":"s9","ba', b"\x00\x00\x00\x00", b"garbage\n", b"{\n"],
)
def test_repair_torn_tail_keeps_earlier_bytes(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "results.jsonl"
    with JsonlAppender(path) as app:
        for rec in _records(50):
            app.write(rec)
    good = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(tail)
    assert repair_torn_tail(path) == len(tail)
    assert path.read_bytes() == good
    assert repair_torn_tail(path) == 0
    assert path.read_bytes() == good


def test_repair_adds_missing_newline_to_complete_record(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(GOOD + GOOD.rstrip(b"\n"))
    assert repair_torn_tail(path) == 0
    assert path.read_bytes() == GOOD + GOOD


def test_repair_single_torn_line_and_long_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": "' + b"x" * 200_000)
    assert repair_torn_tail(path) == 200_007
    assert path.read_bytes() == b""
    big = b'{"a":"' + b"y" * 150_000 + b'"}\n'
    path.write_bytes(big + b'{"b":')
    assert repair_torn_tail(path) == 5
    assert path.read_bytes() == big


def test_appender_repairs_torn_tail_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    recs = _records(2)
    path.write_bytes(dump_line(recs[0]) + b'{"sample_id": "torn')
    with JsonlAppender(path) as app:
        app.write(recs[1])
    assert list(iter_jsonl(path, RunRecord)) == recs


def test_appender_uses_one_write_per_record(tmp_path: Path) -> None:
    # A record is one os.write of a full line: the file size only ever grows by whole lines.
    path = tmp_path / "r.jsonl"
    sizes = []
    with JsonlAppender(path) as app:
        for rec in _records(5):
            app.write(rec)
            sizes.append(os.path.getsize(path))
    data = path.read_bytes()
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    assert sizes == ends
