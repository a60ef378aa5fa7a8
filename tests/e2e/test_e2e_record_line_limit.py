"""Reading results back has a line limit too (issue 10): one line naming file:line, exit 2.

A results file that is not what the runner wrote (a huge line, no newline at all, a device
copied in) must not be read into memory whole by ``evaluate``, ``resume`` or ``export``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from e2e_helpers import run_cli

from chatbot_tester.common.artifacts.jsonl import iter_jsonl
from chatbot_tester.common.schemas import RunRecord
from chatbot_tester.errors import DatasetError

PIPELINE = """name: lines
workspace: ./ws
generator: {source: data.jsonl}
runner: {backend: echo}
evaluator:
  metrics: [{type: contains, value: echo}]
"""


def _record(i: int) -> bytes:
    return RunRecord(sample_id=f"s{i}", backend="echo").model_dump_json().encode() + b"\n"


def test_a_line_over_the_limit_names_file_and_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHATBOT_TESTER_MAX_RECORD_BYTES", "2000")
    path = tmp_path / "results.jsonl"
    path.write_bytes(_record(0) + _record(1) + b'{"sample_id": "' + b"x" * 5000 + b'"}\n')
    with pytest.raises(DatasetError, match=r"results\.jsonl:3: line is longer than 2000 bytes"):
        list(iter_jsonl(path, RunRecord))
    monkeypatch.setenv("CHATBOT_TESTER_MAX_RECORD_BYTES", "6000")
    with pytest.raises(DatasetError, match=r"results\.jsonl:3: "):  # now a validation error
        list(iter_jsonl(path, RunRecord))


def test_a_file_without_newlines_is_refused_after_the_limit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHATBOT_TESTER_MAX_RECORD_BYTES", "4096")
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"{" * (8 * 1024 * 1024))  # 8 MiB, one line
    with pytest.raises(DatasetError, match=r"results\.jsonl:1: line is longer than 4096"):
        next(iter_jsonl(path, RunRecord))


def test_a_line_exactly_at_the_limit_is_read(tmp_path: Path, monkeypatch) -> None:
    line = _record(0)
    monkeypatch.setenv("CHATBOT_TESTER_MAX_RECORD_BYTES", str(len(line) - 1))  # newline excluded
    path = tmp_path / "results.jsonl"
    path.write_bytes(line)
    assert [r.sample_id for r in iter_jsonl(path, RunRecord)] == ["s0"]


@pytest.mark.e2e
def test_evaluate_refuses_an_oversized_result_line(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "input": f"question {i}"} for i in range(3)]
    (tmp_path / "data.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")
    assert run_cli("run", "pipeline.yaml", cwd=tmp_path).code == 0
    (run_dir,) = (tmp_path / "ws" / "runs").glob("*")
    with open(run_dir / "results.jsonl", "ab") as fh:
        fh.write(b'{"sample_id": "' + b"y" * 100_000 + b'"}\n')
    done = run_cli(
        "evaluate",
        str(run_dir),
        cwd=tmp_path,
        env={"CHATBOT_TESTER_MAX_RECORD_BYTES": "50000"},
    )
    assert done.code == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and "results.jsonl:4: line is longer than 50000" in line
