"""Safe YAML loading and pipeline validation errors with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_tester.common.yaml_loader import load_pipeline, load_yaml_with_positions
from chatbot_tester.errors import ConfigError

BASE = """\
name: demo
generator:
  source: data.csv
runner:
  backend: openai
  model: gpt-4o-mini
  options:
    api_key: ${OPENAI_API_KEY}
    base_url: "${BASE_URL:-http://127.0.0.1:8000/v1}"
  concurrency: 4
"""


def _write(tmp_path: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    return info.value


def test_valid_pipeline_binds_and_keeps_env_refs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-appear-0123456789")
    path = _write(tmp_path, BASE)
    config = load_pipeline(path)
    assert config.runner.concurrency == 4
    assert config.base_dir == tmp_path.resolve()
    assert config.source_file == path
    snap = config.snapshot()
    assert snap["runner"]["options"]["api_key"] == "${OPENAI_API_KEY}"
    assert snap["runner"]["options"]["base_url"] == "${BASE_URL:-http://127.0.0.1:8000/v1}"
    assert config.runner.options["api_key"] == "${OPENAI_API_KEY}"
    assert "sk-should-never" not in repr(config.model_dump())
    assert config.resolve_path(config.generator.source or Path()) == tmp_path.resolve() / "data.csv"


def test_load_pipeline_from_str_path_and_dict(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE)
    assert load_pipeline(str(path)).name == "demo"
    config = load_pipeline(
        {"name": "d", "generator": {"source": "x"}, "runner": {"backend": "echo"}}
    )
    assert config.base_dir == Path.cwd()
    assert config.snapshot()["runner"] == {"backend": "echo"}
    with pytest.raises(ConfigError, match=r"^runner\.concurency: unknown key"):
        load_pipeline(
            {"name": "d", "generator": {"source": "x"}, "runner": {"backend": "e", "concurency": 1}}
        )


def test_unknown_key_did_you_mean_with_line_col(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE.replace("  concurrency: 4", "  concurency: 4"))
    assert (err.line, err.col) == (10, 3)
    assert str(err) == (
        f"{tmp_path / 'pipeline.yaml'}:10:3: runner.concurency: unknown key "
        "(did you mean 'concurrency'?)"
    )


def test_unknown_nested_and_top_level_keys(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE + "  backoff:\n    intial_s: 1\n")
    assert (err.line, err.col) == (12, 5)
    assert "runner.backoff.intial_s: unknown key (did you mean 'initial_s'?)" in str(err)
    err = _error(tmp_path, BASE + "evalutor:\n  metrics: []\n")
    assert (err.line, err.col) == (11, 1)
    assert "evalutor: unknown key (did you mean 'evaluator'?)" in str(err)


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE.replace("concurrency: 4", "concurrency: lots"))
    assert (err.line, err.col) == (10, 16)
    assert err.message == "runner.concurrency: expected an integer, got 'lots' (str)"
    err = _error(tmp_path, BASE.replace("concurrency: 4", "concurrency: ${CONC}"))
    assert "resolved in text fields only" in err.message


def test_missing_key_and_model_rule(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE.replace("  backend: openai\n", ""))
    assert (err.line, err.col) == (4, 1)
    assert err.message == "runner: missing required key 'backend'"
    err = _error(tmp_path, BASE.replace("  source: data.csv\n", "  format: csv\n"))
    assert (err.line, err.col) == (2, 1)
    assert "generator needs 'source'" in err.message


def test_duplicate_keys_rejected(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE + "runner:\n  backend: echo\n")
    assert (err.line, err.col) == (11, 1)
    assert "duplicate key 'runner' (first defined at line 4)" in err.message
    err = _error(tmp_path, "a:\n  b: 1\n  c: 2\n  b: 3\n")
    assert (err.line, err.col) == (4, 3)


def test_syntax_error_position(tmp_path: Path) -> None:
    err = _error(tmp_path, "name: x\nrunner:\n  backend: a\n   model: b\n")
    assert (err.line, err.col) == (4, 9)
    assert err.message.startswith("YAML syntax error: mapping values are not allowed here")
    err = _error(tmp_path, "name: [1, 2\nother: 3\n")
    assert err.line == 2 and "while parsing a flow sequence started at line 1" in err.message


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/object/apply:os.system ['echo pwned']\n",
        "x: !!python/name:os.system\n",
        "x: !custom 1\n",
    ],
)
def test_python_and_custom_tags_rejected(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text, "x.yaml")
    with pytest.raises(ConfigError, match="unsupported YAML tag") as info:
        load_yaml_with_positions(path)[0]
    assert (info.value.line, info.value.col) == (1, 4)


def test_yaml_12_booleans_and_dates_stay_strings(tmp_path: Path) -> None:
    path = _write(tmp_path, "a: no\nb: yes\nc: true\nd: 2024-01-01\ne: False\nf: 8\n", "x.yaml")
    assert load_yaml_with_positions(path)[0] == {
        "a": "no",
        "b": "yes",
        "c": True,
        "d": "2024-01-01",
        "e": False,
        "f": 8,
    }


def test_positions_and_anchors(tmp_path: Path) -> None:
    text = "base: &b\n  x: 1\nitems:\n  - *b\n  - y: 2\n"
    data, positions = load_yaml_with_positions(_write(tmp_path, text, "x.yaml"))
    assert data == {"base": {"x": 1}, "items": [{"x": 1}, {"y": 2}]}
    assert positions.keys[("items", 1, "y")] == (5, 5)
    assert positions.locate(("items", 0, "x")) == (4, 5)  # alias: nearest known parent


def test_file_problems_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline(bad)
    assert str(info.value) == f"{bad}:2: not valid UTF-8 (byte 0xe9); save the file as UTF-8"
    with pytest.raises(ConfigError, match="file not found"):
        load_pipeline(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is empty"):
        load_pipeline(_write(tmp_path, ""))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_pipeline(_write(tmp_path, "- a\n"))
    for problem in (bad, tmp_path / "missing.yaml"):
        with pytest.raises(ConfigError) as info:
            load_pipeline(problem)
        assert "\n" not in str(info.value)
