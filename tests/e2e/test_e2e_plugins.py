"""`plugins:` imports a local file so its decorated backend and metric work from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import run_cli

PLUGIN = '''
from chatbot_tester import ChatBackend, ChatRequest, ChatResponse, register_backend, register_metric


@register_backend("shouting_bot")
class ShoutingBot(ChatBackend):
    """Answers in capitals."""

    description = "local test bot"

    async def send(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text=request.messages[-1].content.upper())


@register_metric("is_shouting")
def is_shouting(sample, record):
    return record.response.text.isupper()
'''


def _project(root: Path, plugins: str) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "my_plugins.py").write_text(PLUGIN)
    rows = [{"id": f"s{i}", "input": f"hello {i}", "expected": f"HELLO {i}"} for i in range(5)]
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "pipeline.yaml").write_text(
        f"name: plugins\nplugins: {plugins}\nworkspace: ./ws\n"
        "generator: {source: data.jsonl}\nrunner: {backend: shouting_bot}\n"
        "evaluator: {metrics: [{type: exact_match}, {type: is_shouting}]}\n"
    )
    return root


def test_local_plugin_file_registers_backend_and_metric(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "[lib/my_plugins.py]")
    dry = run_cli("run", "pipeline.yaml", "--dry-run", cwd=project)
    assert dry.code == 0, dry.stderr
    res = run_cli("run", "pipeline.yaml", cwd=project)
    assert res.code == 0, res.stderr
    report = json.loads((Path(res.last_line) / "report.json").read_text())
    assert report["metrics"]["exact_match"]["pass_rate"] == 1.0
    assert report["metrics"]["is_shouting"]["pass_rate"] == 1.0
    # Re-scoring from the run's snapshot, from elsewhere, finds the plugin again.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = run_cli("evaluate", res.last_line, cwd=elsewhere)
    assert again.code == 0, again.stderr


def test_missing_plugin_is_one_clear_line(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "[lib/nope.py]")
    res = run_cli("run", "pipeline.yaml", cwd=project)
    assert res.code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "plugins[0]" in lines[0] and "nope.py" in lines[0]
    assert not (project / "ws" / "runs").exists()
