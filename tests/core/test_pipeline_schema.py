"""The committed JSON Schema matches the models, is valid, and every example pipeline passes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chatbot_tester.common.config_schema import pipeline_schema
from chatbot_tester.orchestrator.pipeline_schema import builtin_names, render_pipeline_schema

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schema" / "pipeline.schema.json"
EXAMPLES = sorted(ROOT.glob("examples/**/pipeline.yaml"))


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_in_sync_with_the_models() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_pipeline_schema(), (
        "schema/pipeline.schema.json is stale: run "
        "`chatbot-tester schema -o schema/pipeline.schema.json`"
    )


def test_schema_command_prints_the_same_schema() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "schema"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout == render_pipeline_schema()


def test_schema_command_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "s.json"
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "schema", "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text(encoding="utf-8")) == pipeline_schema(builtin_names())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_validates_and_points_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (path.parent / first[len(prefix) :]).resolve() == COMMITTED
    _validator().validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_examples_exist() -> None:
    assert {p.parent.name for p in EXAMPLES} >= {"quickstart", "openai-compatible"}


def _minimal() -> dict[str, Any]:
    return {"name": "x", "generator": {"source": "a.csv"}, "runner": {"backend": "demo"}}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c["runner"].update(concurency=4), "concurency"),  # a typo
        (lambda c: c["runner"].update(concurrency="8"), "concurrency"),
        (lambda c: c["runner"].update(stream="yes"), "stream"),
        (lambda c: c.update(generator={"dataset_id": "d"}), "generator"),  # no file, no LLM
        (lambda c: c.pop("runner"), "runner"),
        (lambda c: c.update(evaluator={"metrics": [{"name": "m"}]}), "type"),
    ],
)
def test_schema_rejects_what_the_models_reject(change: Any, where: str) -> None:
    from pydantic import ValidationError

    from chatbot_tester.common.config import PipelineConfig

    config = _minimal()
    _validator().validate(config)
    PipelineConfig.model_validate(config)
    change(config)
    errors = list(_validator().iter_errors(config))
    assert errors and where in " ".join(str(e.message) + str(list(e.path)) for e in errors)
    with pytest.raises(ValidationError):
        PipelineConfig.model_validate(config)


def test_schema_is_for_people() -> None:
    text = render_pipeline_schema()
    schema = json.loads(text)
    assert "``" not in text  # Markdown, not reStructuredText
    assert '"format": "path"' not in text
    runner = schema["$defs"]["RunnerConfig"]["properties"]
    assert "title" not in runner["timeout_s"]  # no "Timeout S"
    assert runner["timeout_s"]["description"] == "Hard wall-clock limit per attempt."
    assert runner["concurrency"]["type"] == "integer"
    # metric options are open: each metric validates its own
    assert schema["$defs"]["MetricSpec"]["additionalProperties"] is True
    assert schema["title"] == "chatbot-tester pipeline"
    assert schema["description"].startswith("A whole pipeline")


def test_builtin_names_are_offered_not_enforced() -> None:
    defs = json.loads(render_pipeline_schema())["$defs"]
    backend = defs["RunnerConfig"]["properties"]["backend"]
    assert {"demo", "openai", "http"} <= set(backend["examples"]) and "enum" not in backend
    assert "exact_match" in defs["MetricSpec"]["properties"]["type"]["examples"]
    assert defs["ReportConfig"]["properties"]["formats"]["items"]["examples"] == [
        "json",
        "html",
        "junit",
        "md",
    ]
    plugin = _minimal()
    plugin["runner"]["backend"] = "mypkg/bot"  # a plugin's backend is still valid
    plugin["evaluator"] = {"metrics": [{"type": "mypkg/metric", "opt": 1}]}
    _validator().validate(plugin)
