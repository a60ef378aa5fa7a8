"""Lazy registration, the `chatbot-tester metrics` command and missing-extra errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from ct_metric_kit import create

from chatbot_tester.cli.metrics import command
from chatbot_tester.common.field_docs import documented
from chatbot_tester.errors import ConfigError, PluginError
from chatbot_tester.evaluator.metrics import metric_registry
from chatbot_tester.evaluator.metrics.builtins import BUILTIN_METRICS

HEAVY = [
    "rapidfuzz",
    "sacrebleu",
    "rouge_score",
    "openai",
    "torch",
    "sentence_transformers",
    "jsonschema",
]


def test_importing_the_registry_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from chatbot_tester.evaluator.metrics import metric_registry\n"
        "names = metric_registry.names()\n"
        "from chatbot_tester.cli.metrics import describe_metrics\n"
        "rows = describe_metrics()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules], len(rows))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, _, count = out.stdout.strip().rpartition(" ")
    assert loaded == "[]"
    assert int(count) >= len(BUILTIN_METRICS)


def test_every_builtin_loads_with_description_and_documented_options() -> None:
    for name in BUILTIN_METRICS:
        if name in ("llm_judge", "g_eval", "pairwise"):
            continue  # written by the judge module
        cls = metric_registry.get(name)
        assert cls.description and "\n" not in cls.description, name
        for field, info in documented(cls.Options).model_fields.items():
            assert info.description, f"{name}.{field} has no docstring"


def test_unknown_metric_did_you_mean() -> None:
    with pytest.raises(PluginError, match="did you mean 'token_f1'"):
        create("token_f2")


def test_cli_lists_metrics_json() -> None:
    result = CliRunner().invoke(command, ["--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(BUILTIN_METRICS) - {"llm_judge", "g_eval", "pairwise"} <= set(rows)
    assert "fixture_len" in rows and rows["fixture_len"]["builtin"] is False
    opts = {o["name"]: o for o in rows["regex"]["options"]}
    assert opts["pattern"]["required"] is True and opts["pattern"]["type"] == "str"
    assert opts["must_match"]["default"] is True
    assert {o["name"] for o in rows["json_schema"]["options"]} >= {"schema", "schema_file"}
    assert rows["token_f1"]["options"][0] == {
        "name": "threshold",
        "type": "float | None",
        "required": False,
        "default": 0.5,
        "description": "Pass when the best F1 reaches this.",
    }


def test_cli_table_and_unknown_name() -> None:
    result = CliRunner().invoke(command, ["exact_match", "pii_leak"])
    assert result.exit_code == 0
    assert "exact_match" in result.output and "ignore_articles" in result.output
    assert "allow" in result.output and "regex" not in result.output.split()
    brief = CliRunner().invoke(command, ["--brief"])
    assert "fixture_len (plugin)" in brief.output and "semantic_similarity" in brief.output
    bad = CliRunner().invoke(command, ["exact_macth"])
    assert isinstance(bad.exception, PluginError) and "did you mean 'exact_match'" in str(
        bad.exception
    )


@pytest.mark.parametrize(("metric", "module"), [("bleu", "sacrebleu"), ("rouge", "rouge_score")])
def test_missing_nlp_extra_names_the_install_command(
    metric: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for mod in list(sys.modules):
        if mod == module or mod.startswith(module + "."):
            monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'chatbot-tester\[nlp\]'"):
        create(metric)


def test_missing_embeddings_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n == "sentence_transformers" else real(n, *a),
    )
    with pytest.raises(ConfigError, match=r"pip install 'chatbot-tester\[embeddings\]'"):
        create("semantic_similarity", {"backend": "sentence_transformers"})
