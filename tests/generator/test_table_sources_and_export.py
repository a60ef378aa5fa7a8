"""Sources .json / Parquet / saved HF datasets with column mappings; CSV and Parquet exports."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.errors import DatasetError
from chatbot_tester.evaluator.export import neutralise_formula
from chatbot_tester.generator import load_samples

ROWS = [
    {"qid": "a1", "question": "What is 2+2?", "answer": "4", "topic": "math", "level": 1},
    {"qid": None, "question": "Capital of France?", "answer": "Paris", "topic": "geo", "level": 2},
]
MAPPING = {"id": "qid", "tags": "topic"}


def _load(path: Path, **kw: object) -> list:
    return list(load_samples(GeneratorConfig(source=path, **kw), path.parent))


def _check(samples: list) -> None:
    assert [s.id for s in samples] == ["a1", "row-2"]
    assert samples[0].input == "What is 2+2?" and samples[0].expected == "4"
    assert samples[1].tags == ["geo"] and samples[1].metadata == {"level": 2}


def test_json_array_with_mapping_and_of_full_samples(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(ROWS))
    _check(_load(path, columns=MAPPING))
    full = tmp_path / "full.json"
    full.write_text(json.dumps([{"id": "s1", "input": "hi", "tags": ["x"]}]))
    assert [(s.id, s.tags) for s in _load(full)] == [("s1", ["x"])]
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    with pytest.raises(DatasetError, match="expected a JSON array"):
        _load(bad)


def test_parquet_with_mapping(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    _check(_load(path, columns=MAPPING))
    with pytest.raises(DatasetError, match="column 'nope'"):
        _load(path, columns={"input": "nope"})


def test_saved_hugging_face_dataset(tmp_path: Path) -> None:
    import datasets  # the hf extra (in dev)

    folder = tmp_path / "hf_data"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(folder))
    _check(_load(folder, columns=MAPPING))


def test_neutralise_formula() -> None:
    assert neutralise_formula('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    for cell in ("+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise_formula(cell).startswith("'")
    assert neutralise_formula("fine") == "fine" and neutralise_formula(-3) == -3


def test_export_csv_and_parquet_reopen_with_pandas(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    from e2e_helpers import run_cli

    (tmp_path / "data.json").write_text(
        json.dumps(
            [
                {"id": "ok", "question": "hello", "answer": "hello"},
                {"id": "evil", "question": "=cmd|' /C calc'!A0", "answer": "x"},
            ]
        )
    )
    (tmp_path / "pipeline.yaml").write_text(
        "name: export_case\nworkspace: ./ws\ngenerator: {source: data.json}\n"
        "runner: {backend: echo}\nevaluator: {metrics: [{type: exact_match}], "
        "report: {formats: [json]}}\n"
    )
    run = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert run.code in (0, 1), run.stderr
    out = run_cli("export", "latest", "--workspace", "ws", cwd=tmp_path)
    assert out.code == 0, out.stderr
    frame = pd.read_csv(tmp_path / out.last_line, encoding="utf-8-sig", keep_default_na=False)
    by_id = frame.set_index("sample_id")
    assert by_id.loc["evil", "input"] == "'=cmd|' /C calc'!A0"
    assert by_id.loc["evil", "answer"].startswith("'=")  # the echoed answer too
    assert str(by_id.loc["ok", "exact_match.passed"]) == "True"
    pq_out = run_cli(
        "export",
        "latest",
        "--workspace",
        "ws",
        "--format",
        "parquet",
        "-o",
        "t.parquet",
        cwd=tmp_path,
    )
    assert pq_out.code == 0, pq_out.stderr
    table = pq.read_table(tmp_path / "t.parquet").to_pandas().set_index("sample_id")
    assert table.loc["evil", "input"] == "=cmd|' /C calc'!A0"  # typed format: kept as data
    assert bool(table.loc["ok", "exact_match.passed"]) is True
    assert table.loc["ok", "exact_match.value"] == 1.0
