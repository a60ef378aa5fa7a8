"""Config strictness: ``${VAR`` references that do not close, and no lax int/bool coercion."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_tester.common.config import BackendSpec, resolve_env
from chatbot_tester.common.yaml_loader import load_pipeline
from chatbot_tester.errors import ConfigError

# -- ${VAR} references --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("${NOPE", "unterminated ${...} reference: add the closing '}'"),
        ("Bearer ${OPENAI_API_KEY", "unterminated ${...} reference"),
        ("${1BAD}", "invalid ${...} reference"),
        ("${sk-live-abc123}", "invalid ${...} reference"),
        ("${}", "invalid ${...} reference"),
        ("ok ${H12_SET} then ${", "unterminated"),
    ],
)
def test_broken_reference_is_a_config_error_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, value: str, needle: str
) -> None:
    monkeypatch.setenv("H12_SET", "x")
    spec = BackendSpec(backend="openai", options={"api_key": value})
    with pytest.raises(ConfigError) as info:
        spec.resolved_options()
    message = str(info.value)
    assert message.startswith("backend 'openai' options.api_key: ")
    assert needle in message
    assert "sk-live-abc123" not in message  # the reference text is never echoed


def test_valid_references_and_literal_dollar_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H12_HOST", "127.0.0.1")
    monkeypatch.delenv("H12_UNSET", raising=False)
    out = resolve_env(
        {
            "url": "http://${H12_HOST}:8000/${H12_UNSET:-v1}",
            "literal": "price $5, template $${NAME} and $$",
            "list": ["${H12_HOST}", "$"],
        },
        where="opts",
    )
    assert out == {
        "url": "http://127.0.0.1:8000/v1",
        "literal": "price $5, template ${NAME} and $$",
        "list": ["127.0.0.1", "$"],
    }


def test_nested_location_in_the_message() -> None:
    with pytest.raises(ConfigError, match=r"^opts\.headers\.Authorization: unterminated"):
        resolve_env({"headers": {"Authorization": "Bearer ${TOKEN"}}, where="opts")


# -- strict int / bool --------------------------------------------------------------------


def pipeline(tmp_path: Path, runner_extra: str, generator_extra: str = "") -> Path:
    (tmp_path / "d.csv").write_text("id,input\na,hi\n")
    text = (
        "name: t\nworkspace: ./ws\n"
        f"generator:\n  source: d.csv\n{generator_extra}"
        f"runner:\n  backend: echo\n{runner_extra}"
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("  concurrency: true\n", "runner.concurrency: expected an integer, got true (bool)"),
        ('  repeat: "3"\n', "runner.repeat: expected an integer, got '3' (str)"),
        ("  retries: 2.0\n", "runner.retries: expected an integer"),
        ("  stream: 1\n", "runner.stream: expected true or false, got 1 (int)"),
        ('  cache: "false"\n', "runner.cache: expected true or false"),
        ("  timeout_s: true\n", "runner.timeout_s: expected a number, got true"),
    ],
)
def test_lax_values_are_rejected_with_file_line(tmp_path: Path, extra: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline(pipeline(tmp_path, extra))
    assert info.value.line == 7
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("gen", "needle"),
    [
        ("  cache: 0\n", "generator.cache: expected true or false, got 0 (int)"),
        (
            "  synthetic: {backend: echo, instructions: x, count: '5'}\n",
            "generator.synthetic.count: expected an integer, got '5' (str)",
        ),
    ],
)
def test_generator_fields_are_strict(tmp_path: Path, gen: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline(pipeline(tmp_path, "", gen))
    assert needle in str(info.value)


def test_ordinary_values_still_coerce_where_meaningful(tmp_path: Path) -> None:
    extra = "  timeout_s: 5\n  concurrency: 3\n  stream: true\n  max_cost_usd: 1.5\n"
    config = load_pipeline(pipeline(tmp_path, extra))
    assert Path(config.workspace) == Path("ws")
    assert isinstance(config.runner.timeout_s, float) and config.runner.timeout_s == 5.0
    assert (config.runner.concurrency, config.runner.stream) == (3, True)
    assert config.generator.source == Path("d.csv")
