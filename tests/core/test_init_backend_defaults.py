"""``init``'s defaults come from the backend registry: built-ins, presets (duck-typed), plugins."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import yaml

from chatbot_tester import ChatBackend, ChatRequest, ChatResponse, register_backend
from chatbot_tester.cli.scaffold import ScaffoldChoice, backend_defaults, scaffold
from chatbot_tester.orchestrator.pipeline_schema import render_pipeline_schema


@register_backend("init_probe_preset")
class ProbePreset(ChatBackend):
    """Shaped like an OpenAI-compatible preset: a ``preset`` with a URL and a key variable."""

    description = "test double with a preset"
    preset = SimpleNamespace(base_url="http://localhost:11434/v1", key_env="PROBE_API_KEY")

    async def send(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="hi")


@register_backend("init_probe_plugin")
class ProbePlugin(ChatBackend):
    """A plugin backend with nothing init knows about."""

    description = "test double without a preset"

    async def send(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="hi")


def _scaffold(backend: str, **answers: str) -> tuple[dict[str, object], str]:
    files = scaffold(ScaffoldChoice(backend, defaults=backend_defaults(backend), **answers))
    config = yaml.safe_load(files["pipeline.yaml"])
    jsonschema.Draft202012Validator(yaml.safe_load(render_pipeline_schema())).validate(config)
    return config["runner"], files[".github/workflows/chatbot-tester.yml"]


def test_a_preset_offers_its_url_and_passes_its_key_from_ci() -> None:
    defaults = backend_defaults("init_probe_preset")
    assert defaults.base_url == "http://localhost:11434/v1"
    assert defaults.needs_model and not defaults.key_in_options
    runner, workflow = _scaffold("init_probe_preset", model="llama3")
    # the preset's own URL and key variable are its defaults: nothing to write
    assert "options" not in runner
    assert runner["model"] == "llama3" and "api_key" not in str(runner)
    assert "PROBE_API_KEY: ${{ secrets.PROBE_API_KEY }}" in workflow
    runner, _ = _scaffold("init_probe_preset", model="m", base_url="http://127.0.0.1:9/v1")
    assert runner["options"] == {"base_url": "http://127.0.0.1:9/v1"}


def test_a_plugin_gets_a_bare_runner() -> None:
    assert backend_defaults("init_probe_plugin") == backend_defaults("no_such_backend")
    runner, workflow = _scaffold("init_probe_plugin", model="m1")
    assert runner["backend"] == "init_probe_plugin" and runner["model"] == "m1"
    assert "options" not in runner and "secrets." not in workflow


def test_openai_writes_its_key_as_a_reference() -> None:
    runner, workflow = _scaffold("openai")
    assert runner["options"] == {
        "base_url": "https://api.openai.com/v1",
        "api_key": "${OPENAI_API_KEY}",
    }
    assert "OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}" in workflow


def test_yes_without_a_model_for_a_backend_that_needs_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chatbot_tester.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["init", "--yes", "--backend", "init_probe_preset", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --model: backend 'init_probe_preset' needs a model: pass --model NAME"]
    assert list(tmp_path.iterdir()) == []
    main(["init", "--yes", "--backend", "init_probe_preset", "--model", "m", str(tmp_path)])
    assert (tmp_path / "pipeline.yaml").is_file()
