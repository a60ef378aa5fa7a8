"""CSV, JSONL and YAML sources: mapping, defaults, and errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import ConfigError, DatasetError
from chatbot_tester.generator import load_samples, read_source
from chatbot_tester.generator.generate import dataset_fingerprint, dataset_hash, generate_dataset

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def samples_of(path: Path, **config: Any) -> list[TestSample]:
    return list(load_samples(GeneratorConfig(source=path, **config), path.parent))


def error_of(path: Path, **config: Any) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        samples_of(path, **config)
    return info.value


# -- CSV ----------------------------------------------------------------------------------


def test_csv_default_columns_tags_metadata_and_row_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qa.csv",
        "Question,Expected_Answer,tags,priority\n"
        'Where is my order?,"Track it, please",orders; shipping,high\n'
        "\n"
        "Hi,,,\n",
    )
    first, second = samples_of(path)
    assert (first.id, first.input, first.expected) == (
        "row-1",
        "Where is my order?",
        "Track it, please",
    )
    assert first.tags == ["orders", "shipping"]
    assert first.metadata == {"priority": "high"}
    assert (second.id, second.expected, second.tags, second.metadata) == ("row-2", None, [], {})


def test_csv_explicit_mapping_and_metadata_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qa.csv",
        'key,ask,gold,cat,docs,lang\nk1,Q1,A1,"a,b","[""doc one"", ""doc two""]",en\n',
    )
    columns = {
        "id": "key",
        "input": "ask",
        "expected": "gold",
        "tags": "cat",
        "context": "docs",
        "metadata.language": "lang",
    }
    (sample,) = samples_of(path, columns=columns)
    assert (sample.id, sample.input, sample.expected) == ("k1", "Q1", "A1")
    assert sample.tags == ["a", "b"]
    assert sample.context == ["doc one", "doc two"]
    assert sample.metadata == {"language": "en"}


def test_csv_with_excel_bom_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfid;question;answer\r\nx1;Caf\xc3\xa9 ouvert ?;Oui\r\n")
    (sample,) = samples_of(path)
    assert (sample.id, sample.input, sample.expected) == ("x1", "Café ouvert ?", "Oui")


def test_quickstart_csv_with_the_pipeline_mapping() -> None:
    columns = {"id": "id", "input": "question", "expected": "expected_answer", "tags": "category"}
    samples = samples_of(QUICKSTART / "raw.csv", columns=columns)
    assert len(samples) >= 36
    assert samples[0].id == "q01" and samples[0].tags == ["orders"]
    assert sum(s.tags == ["out_of_scope"] for s in samples) >= 6


def test_csv_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'id,input\na,one\nb,"multi\nline"\na,three\n')
    err = error_of(path)
    assert err.line == 5
    assert "duplicate id 'a' (first used on line 2)" in str(err)
    assert str(err).endswith("d.csv:5: duplicate id 'a' (first used on line 2); ids must be unique")


def test_csv_missing_mapped_column_lists_columns_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "id,question,expected_answer\n1,q,a\n")
    err = error_of(path, columns={"input": "question", "expected": "expected_answr"})
    msg = str(err)
    assert "column 'expected_answr'" in msg
    assert "columns are: id, question, expected_answer" in msg
    assert "did you mean 'expected_answer'?" in msg
    assert err.line == 1


def test_csv_unknown_field_in_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "id,question\n1,q\n")
    with pytest.raises(ConfigError, match=r"unknown field 'expect'.*did you mean 'expected'"):
        samples_of(path, columns={"expect": "question"})


def test_csv_without_input_column(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "n.csv", "id,text\n1,q\n"))
    assert "no input column" in str(err) and "columns are: id, text" in str(err)


def test_csv_empty_input_cell_names_the_line(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "e.csv", "id,question,answer\n1,ok,a\n2,,b\n"))
    assert err.line == 3
    assert "empty 'question' cell" in str(err)


def test_csv_not_utf8_names_byte_and_line(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_bytes(b"id,question\n1,fine\n2,caf" + b"\xe9\n")
    err = error_of(path)
    assert "not valid UTF-8 at byte 24 (line 3); save the file as UTF-8" in str(err)
    assert str(err).endswith("save the file as UTF-8")
    assert "raw.csv: not valid UTF-8" in str(err)


def test_csv_too_many_cells(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "c.csv", "id,question\n1,a,b\n"))
    assert err.line == 2 and "3 cells" in str(err)


@pytest.mark.parametrize("text", ["", "id,question\n", "id,question\n\n,\n"])
def test_empty_dataset(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(text)
    err = error_of(path)
    assert "empty" in str(err)


# -- JSONL --------------------------------------------------------------------------------


def test_jsonl_samples_and_multi_turn(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "input": "hi", "expected": ["hello", "hey"]},
        {"id": "b", "turns": [{"user": "one"}, {"user": "two", "expected": "2"}]},
    ]
    path = write(tmp_path / "d.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    a, b = samples_of(path)
    assert a.expected_list() == ["hello", "hey"]
    assert b.turns is not None and b.turns[1].expected == "2"


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ('{"id": "a", "input": "x"}\n{"id": "b", "input": \n', 2, "bad JSON"),
        ('{"id": "a", "input": "x"}\n\n{"id": "b", "inptu": "x"}\n', 3, "did you mean 'input'"),
        (
            '{"id": "a", "input": "x"}\n{"id": "a", "input": "y"}\n',
            2,
            "duplicate id 'a' (first used on line 1)",
        ),
        ('{"id": "a"}\n', 1, "exactly one of 'input' or 'turns'"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, body: str, line: int, needle: str) -> None:
    err = error_of(write(tmp_path / "bad.jsonl", body))
    assert err.line == line
    assert needle in str(err)


def test_columns_rejected_for_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"id": "a", "input": "x"}\n')
    with pytest.raises(ConfigError, match="applies to CSV, JSON, Parquet and HF, not jsonl"):
        samples_of(path, columns={"input": "q"})


# -- YAML ---------------------------------------------------------------------------------


def test_yaml_list_and_samples_mapping(tmp_path: Path) -> None:
    listed = write(tmp_path / "a.yaml", "- id: a\n  input: hi\n  tags: [x]\n- id: b\n  input: yo\n")
    mapped = write(tmp_path / "b.yml", "samples:\n  - id: a\n    input: hi\n")
    assert [s.id for s in samples_of(listed)] == ["a", "b"]
    assert [s.input for s in samples_of(mapped)] == ["hi"]


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "samples:\n  - id: a\n    input: hi\n  - id: b\n    input: yo\n    tgs: [x]\n",
    )
    err = error_of(path)
    assert err.line == 6 and "did you mean 'tags'" in str(err)
    dup = write(tmp_path / "d.yaml", "- id: a\n  input: hi\n- id: a\n  input: yo\n")
    err = error_of(dup)
    assert err.line == 3 and "first used on line 1" in str(err)


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"\.txt"):
        list(read_source(write(tmp_path / "x.txt", "hi")))


# -- dataset build ------------------------------------------------------------------------


async def test_generate_dataset_writes_jsonl_atomically(tmp_path: Path) -> None:
    src = write(tmp_path / "faq.csv", "id,question,answer\n1,q1,a1\n2,q2,a2\n")
    out = tmp_path / "out" / "dataset.jsonl"
    info = await generate_dataset(
        GeneratorConfig(source=Path("faq.csv")), base_dir=tmp_path, out_path=out
    )
    assert (info.id, info.count, info.source) == ("faq", 2, "faq.csv")
    assert info.hash == dataset_hash(out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"]
    # a failing rebuild leaves the previous dataset untouched and no temp files behind
    src.write_text("id,question\n1,q1\n1,q2\n")
    with pytest.raises(DatasetError):
        await generate_dataset(
            GeneratorConfig(source=Path("faq.csv")), base_dir=tmp_path, out_path=out
        )
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["1", "2"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["dataset.jsonl"]


async def test_dataset_id_is_validated(tmp_path: Path) -> None:
    write(tmp_path / "faq.csv", "id,question\n1,q\n")
    config = GeneratorConfig(source=Path("faq.csv"), dataset_id="../evil")
    with pytest.raises(ConfigError, match="must not contain"):
        await generate_dataset(config, base_dir=tmp_path, out_path=tmp_path / "d.jsonl")


def test_fingerprint_changes_with_source_and_config(tmp_path: Path) -> None:
    src = write(tmp_path / "faq.csv", "id,question\n1,q\n")
    config = GeneratorConfig(source=Path("faq.csv"))
    first = dataset_fingerprint(config, tmp_path)
    assert first.startswith("sha256:") and first == dataset_fingerprint(config, tmp_path)
    assert (
        dataset_fingerprint(GeneratorConfig(source=Path("faq.csv"), dataset_id="x"), tmp_path)
        != first
    )
    assert (
        dataset_fingerprint(
            GeneratorConfig(source=Path("faq.csv"), columns={"input": "question"}), tmp_path
        )
        != first
    )
    src.write_text("id,question\n1,q changed\n")
    assert dataset_fingerprint(config, tmp_path) != first
    with pytest.raises(DatasetError, match="cannot read"):
        dataset_fingerprint(GeneratorConfig(source=Path("missing.csv")), tmp_path)
