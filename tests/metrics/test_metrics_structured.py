"""json_valid / json_schema (vs jsonschema) / json_equals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ct_metric_kit import create, make_item, run
from jsonschema import Draft202012Validator

from chatbot_tester.errors import ConfigError

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "kind": {"enum": ["a", "b"]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
    "$defs": {"unused": {"type": "null"}},
}

INSTANCES = [
    '{"name": "Ann", "age": 3}',
    '{"name": "Ann", "age": -1}',
    '{"name": "", "age": 3}',
    '{"name": "Ann"}',
    '{"name": "Ann", "age": 3, "extra": 1}',
    '{"name": "Ann", "age": 3.5}',
    '{"name": "Ann", "age": 3, "tags": ["x", "x"]}',
    '{"name": "Ann", "age": 3, "tags": ["x", "y"], "kind": "b"}',
    '{"name": "Ann", "age": 3, "kind": "c"}',
    "[1, 2]",
    '```json\n{"name": "Ann", "age": 3}\n```',
]


@pytest.mark.parametrize("text", INSTANCES)
def test_json_schema_agrees_with_jsonschema(text: str) -> None:
    raw = text.removeprefix("```json\n").removesuffix("\n```")
    expected = Draft202012Validator(SCHEMA).is_valid(json.loads(raw))
    s = run("json_schema", make_item(text), {"schema": SCHEMA})
    assert s.value == float(expected)
    assert s.passed is expected
    if not expected:
        assert s.reason and s.reason.startswith("$")


def test_json_schema_uses_draft_2020_12_semantics() -> None:
    # prefixItems exists only from Draft 2020-12 on.
    schema = {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}
    assert run("json_schema", make_item("[1]"), {"schema": schema}).passed is True
    assert run("json_schema", make_item("[1, 2]"), {"schema": schema}).passed is False
    assert run("json_schema", make_item('["x"]'), {"schema": schema}).passed is False


def test_json_schema_from_file_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "s.yaml").write_text("type: object\nrequired: [id]\n")
    opts = {"schema_file": "schemas/s.yaml"}
    assert run("json_schema", make_item('{"id": 1}'), opts, base_dir=tmp_path).passed is True
    assert run("json_schema", make_item("{}"), opts, base_dir=tmp_path).passed is False


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"schema": {"type": "objekt"}}, "invalid JSON Schema"),
        ({"schema": {"minimum": "zero"}}, "invalid JSON Schema"),
        ({"schema_file": "missing.json"}, "cannot read schema_file"),
        ({}, "exactly one of 'schema' or 'schema_file'"),
    ],
)
def test_json_schema_bad_config(options: dict, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=fragment):
        create("json_schema", options, base_dir=tmp_path)


def test_json_schema_not_json() -> None:
    s = run("json_schema", make_item("Sure! {name: Ann}"), {"schema": SCHEMA})
    assert s.passed is False and (s.reason or "").startswith("invalid JSON")


@pytest.mark.parametrize(
    ("text", "ok", "options"),
    [
        ('{"a": 1}', True, {}),
        ("```json\n[1, 2]\n```", True, {}),
        ("```\n[1, 2]\n```", True, {}),
        ("```json\n[1, 2]\n```", False, {"strip_fences": False}),
        ("{'a': 1}", False, {}),
        ("NaN", False, {}),
        ('{"a": 1} trailing', False, {}),
        ("123456789012345678901234567890", True, {}),
        ("", False, {}),
    ],
)
def test_json_valid(text: str, ok: bool, options: dict) -> None:
    assert run("json_valid", make_item(text), options).passed is ok


@pytest.mark.parametrize(
    ("answer", "expected", "options", "ok"),
    [
        ('{"b": 2, "a": 1}', '{"a": 1, "b": 2}', {}, True),
        ('{"a": 1, "b": 2}', '{"a": 1}', {}, False),
        ('{"a": 1.0}', '{"a": 1}', {}, True),
        ('{"a": true}', '{"a": 1}', {}, False),
        ('{"a": [1, 2]}', '{"a": [2, 1]}', {}, False),
        ('{"a": [1, 2]}', '{"a": [2, 1]}', {"ignore_list_order": True}, True),
        (
            '{"id": 7, "v": {"ts": 1, "x": 2}}',
            '{"id": 9, "v": {"ts": 5, "x": 2}}',
            {"ignore_keys": ["id", "ts"]},
            True,
        ),
        ('{"a": null}', '{"a": null}', {}, True),
        ("not json", '{"a": 1}', {}, False),
        ('{"a": 2}', ['{"a": 1}', '{"a": 2}'], {}, True),
    ],
)
def test_json_equals(answer: str, expected: str | list[str], options: dict, ok: bool) -> None:
    s = run("json_equals", make_item(answer, expected), options)
    assert s.error is None
    assert s.passed is ok


def test_json_equals_value_option_and_reason() -> None:
    s = run("json_equals", make_item('{"total": 41}'), {"value": {"total": 42}})
    assert s.passed is False and s.reason == "$.total: 41 != 42"
    assert run("json_equals", make_item("null"), {"value": None}).passed is True


def test_json_equals_bad_expected_is_error() -> None:
    s = run("json_equals", make_item('{"a": 1}', "not json", sample_id="j1"))
    assert s.value is None and "expected answer 1 of sample 'j1' is not valid JSON" in (
        s.error or ""
    )
