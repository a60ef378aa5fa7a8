"""Reports as the pipeline writes them: one pass, a plugin format, one decision for all outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from report_helpers import open_page

from chatbot_tester import ChatBackend, ChatRequest, ChatResponse, register_backend, run_pipeline
from chatbot_tester.errors import BackendHTTPError, ConfigError


@register_backend("h8_report_echo")
class EchoOrFail(ChatBackend):
    """Echoes the question; a question containing 'boom' gets an HTTP 500."""

    description = "test double for the report pipeline tests"

    async def send(self, request: ChatRequest) -> ChatResponse:
        text = request.messages[-1].content
        if "boom" in text:
            raise BackendHTTPError("server exploded", status_code=500)
        return ChatResponse(text=text)


def _pipeline(tmp: Path, formats: list[str], *, boom: int = 0, **evaluator: Any) -> dict[str, Any]:
    rows = [{"id": f"s{i}", "input": f"q{i}", "expected": f"q{i}"} for i in range(6)]
    for i in range(boom):
        rows[i]["input"] = rows[i]["expected"] = f"boom {i}"
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return {
        "name": "reports_pipeline",
        "workspace": str(tmp / "ws"),
        "generator": {"source": str(tmp / "data.jsonl")},
        "runner": {"backend": "h8_report_echo", "retries": 0},
        "evaluator": {
            "metrics": [{"type": "exact_match"}],
            "report": {"formats": formats},
            **evaluator,
        },
    }


def test_installed_third_party_reporter_writes_its_format(tmp_path: Path) -> None:
    result = run_pipeline(_pipeline(tmp_path, ["json", "fixture_tsv"]), cache=False)
    assert result.exit_code == 0, result.problems
    assert set(result.reports) == {"json", "fixture_tsv"}
    tsv = result.reports["fixture_tsv"]
    assert tsv == result.run_dir / "report.tsv"
    lines = tsv.read_text("utf-8").splitlines()
    assert sorted(lines[:-1]) == sorted(f"s{i}\tpass" for i in range(6))  # every row, once
    assert lines[-1] == "# passed"
    assert not (result.run_dir / "report.html").exists()
    assert json.loads((result.run_dir / "report.json").read_text("utf-8"))["passed"] is True


def test_unknown_format_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        run_pipeline(_pipeline(tmp_path, ["json", "fixture_tsvv"]), cache=False)
    assert "evaluator.report.formats" in str(info.value)
    assert "did you mean 'fixture_tsv'?" in str(info.value)
    assert not (tmp_path / "ws").exists() or not any((tmp_path / "ws").rglob("results.jsonl"))


def test_failing_only_by_error_rate_is_failed_everywhere(tmp_path: Path) -> None:
    # no gates: the only reason to fail is 1 of 6 records in error (max_error_rate 0)
    config = _pipeline(tmp_path, ["json", "html", "junit", "md"], boom=1)
    result = run_pipeline(config, cache=False)
    assert result.exit_code == 1
    assert result.failed_gates == []
    assert any("1 of 6 samples ended in errors" in p for p in result.problems)
    report = json.loads(result.reports["json"].read_text("utf-8"))
    assert report["passed"] is False
    assert report["decision"]["passed"] is False
    assert report["decision"]["problems"] == result.problems
    assert result.report is not None and result.report.decision.passed is False
    md = result.reports["md"].read_text("utf-8")
    assert md.splitlines()[0] == "## ❌ reports\\_pipeline: failed"
    assert "1 of 6 samples ended in errors" in md
    with open_page(result.reports["html"]) as page:
        assert page.text_content("#status-line .badge") == "FAILED"
    # and the same run within tolerance passes in all four (the decision is not stuck on FAILED)
    config["runner"]["max_error_rate"] = 0.5
    config["workspace"] = str(tmp_path / "ws2")
    ok = run_pipeline(config, cache=False)
    assert ok.exit_code == 0, ok.problems
    assert json.loads(ok.reports["json"].read_text("utf-8"))["passed"] is True
    with open_page(ok.reports["html"]) as page:
        assert page.text_content("#status-line .badge") == "PASSED"
    assert ok.reports["md"].read_text("utf-8").startswith("## ℹ️ reports\\_pipeline: no gates")


def test_cli_exit_code_follows_the_decision(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from chatbot_tester.cli.main import cli

    config = _pipeline(tmp_path, ["json", "md"], boom=1)
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(config), "utf-8")
    out = CliRunner().invoke(cli, ["run", str(path)])
    assert out.exit_code == 1, out.output
    assert "1 of 6 samples ended in errors" in out.output
