"""Strict dataset input: CSV quoting and cell counts, JSONL duplicate keys, blank inputs, ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbot_tester.common.config import GeneratorConfig
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.errors import DatasetError
from chatbot_tester.generator import load_samples


def samples_of(path: Path, **config: Any) -> list[TestSample]:
    return list(load_samples(GeneratorConfig(source=path, **config), path.parent))


def error_of(path: Path) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        samples_of(path)
    return info.value


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


# -- CSV ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('id,input,expected\na,"x,y\nb,z,w\n', 2),  # the review's case: row b was swallowed
        ('id,input,expected\na,"x,y\nb,z,w', 2),  # no final newline
        ('id,input\na,"he said ""hi"""\nb,"multi\nline"\nc,"open\nd,e\n', 5),
        ('id,input\r\na,ok\r\n\r\nb,"open\r\nc,d\r\n', 4),
        ('id;input\na;"open\nb;c\n', 2),
    ],
)
def test_csv_unterminated_quote_names_the_line_it_opened(
    tmp_path: Path, text: str, line: int
) -> None:
    err = error_of(write(tmp_path / "q.csv", text))
    assert err.line == line
    assert "a quote opened on this line is never closed" in str(err)
    assert f"q.csv:{line}: a quote" in str(err) and "\n" not in str(err)


def test_csv_stray_quote_after_a_quoted_cell_names_the_row(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "s.csv", 'id,input\na,"x\nb,y\nc,"z"\n'))
    assert err.line == 4
    assert "bad CSV quoting" in str(err) and "row that starts on line 2" in str(err)
    one_line = error_of(write(tmp_path / "t.csv", 'id,input\na,"x"y\n'))
    assert one_line.line == 2 and "starts on line" not in str(one_line)


def test_csv_short_row_is_an_error_like_a_long_one(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "r.csv", "id,input,expected\na,x,1\nb,x\n"))
    assert err.line == 3
    assert "row has 2 cells but the header has 3 columns" in str(err)
    assert "give every row 3 cells" in str(err)
    long = error_of(write(tmp_path / "l.csv", "id,input,expected\na,x,1,2\n"))
    assert long.line == 2 and "row has 4 cells but the header has 3 columns" in str(long)


def test_csv_valid_quoting_blank_lines_and_multiline_cells_still_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ok.csv",
        'id,input,expected\n\na,"say ""hi""",x\n\n\nb,"two\nlines",\nc,"a,b",""\n',
    )
    samples = samples_of(path)
    assert [(s.id, s.input) for s in samples] == [
        ("a", 'say "hi"'),
        ("b", "two\nlines"),
        ("c", "a,b"),
    ]


def test_csv_id_with_a_control_character(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "c.csv", 'id,input\nok,x\n"a\x07b",y\n'))
    assert err.line == 3 and "U+0007" in str(err) and "\x07" not in str(err)


# -- JSONL: duplicate keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('{"id": "a", "id": "b", "input": "x"}', "id"),
        ('{"id": "a", "input": "x", "metadata": {"k": 1, "k": 2}}', "k"),
        ('{"id": "a", "turns": [{"user": "u", "user": "v"}]}', "user"),
        ('{"id": "a", "input": "http://x/y?t=10:30", "input": "z"}', "input"),
        ('{"id": "a", "input": "x\\u003a", "input": "y:"}', "input"),  # escaped colon
        ('{"id": "a", "input": "x", "metadata": {"a": {"b": 1, "b": "1:2"}}}', "b"),
    ],
)
def test_jsonl_duplicate_key_names_line_and_key(tmp_path: Path, line: str, key: str) -> None:
    path = write(tmp_path / "d.jsonl", '{"id": "ok", "input": "fine"}\n' + line + "\n")
    err = error_of(path)
    assert err.line == 2
    assert f"key '{key}' appears twice in one object" in str(err)


def test_jsonl_colons_inside_strings_are_not_duplicates(tmp_path: Path) -> None:
    rows = [
        {"id": "a:1", "input": "see http://x:8080/a?b=c:d", "metadata": {"t": "10:30"}},
        {"id": "b", "input": "x", "metadata": {"a": {"b": {"c": ["d:e", {"f": 1}]}}}},
    ]
    path = write(tmp_path / "c.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert [s.id for s in samples_of(path)] == ["a:1", "b"]


# -- blank inputs and unprintable ids -----------------------------------------------------


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"id": "a", "input": ""}, "field 'input': empty"),
        ({"id": "a", "input": "  \t "}, "field 'input': empty"),
        ({"id": "a", "input": [{"role": "user", "content": " "}]}, "input.0.content"),
        ({"id": "a", "turns": [{"user": "hi"}, {"user": ""}]}, "turns.1.user"),
    ],
)
def test_jsonl_blank_input_is_rejected_like_an_empty_csv_cell(
    tmp_path: Path, row: dict[str, Any], needle: str
) -> None:
    path = write(tmp_path / "e.jsonl", '{"id": "ok", "input": "q"}\n\n' + json.dumps(row) + "\n")
    err = error_of(path)
    assert err.line == 3 and needle in str(err)


def test_assistant_message_may_be_empty(tmp_path: Path) -> None:
    row = {
        "id": "a",
        "input": [
            {"role": "assistant", "content": "", "tool_calls": []},
            {"role": "user", "content": "next"},
        ],
    }
    assert samples_of(write(tmp_path / "m.jsonl", json.dumps(row) + "\n"))[0].id == "a"


@pytest.mark.parametrize(
    "sample_id", ["a\x07b", "a\rb", "line\nbreak", "tab\there", "nul\x00", "c1\x85", "bidi\u202e"]
)
def test_ids_with_control_characters_are_rejected(tmp_path: Path, sample_id: str) -> None:
    path = write(tmp_path / "i.jsonl", json.dumps({"id": sample_id, "input": "x"}) + "\n")
    err = error_of(path)
    assert err.line == 1
    assert "field 'id': contains the control character U+" in str(err)
    assert "ids must be printable" in str(err)
    assert sample_id not in str(err)


def test_yaml_uses_the_same_rules(tmp_path: Path) -> None:
    path = write(tmp_path / "y.yaml", "- id: a\n  input: hi\n- id: b\n  input: ''\n")
    err = error_of(path)
    assert err.line == 3 and "field 'input': empty" in str(err)


def test_printable_unicode_ids_are_fine(tmp_path: Path) -> None:
    rows = [{"id": "café-1 ü/../x", "input": "x"}, {"id": "日本", "input": "y"}]
    path = write(tmp_path / "u.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert [s.id for s in samples_of(path)] == ["café-1 ü/../x", "日本"]


def test_jsonl_errors_name_the_file_relative_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "d.jsonl", '{"id": "a", "input": "x"}\n{"id": "b", "id": "c", "input": "y"}\n')
    assert str(error_of(tmp_path / "d.jsonl")).startswith("d.jsonl:2: key 'id' appears twice")
    write(tmp_path / "e.jsonl", '{"id": "a", "input": "x"}\n{"id":\n')
    assert str(error_of(tmp_path / "e.jsonl")).startswith("e.jsonl:2: bad JSON")
