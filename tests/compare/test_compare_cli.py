"""The compare command: exit codes, formats, run-id resolution, step summary; report escaping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from compare_helpers import binary_scores, report

from chatbot_tester.cli.main import cli
from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.compare import compare_runs
from chatbot_tester.evaluator.reports.compare_html import CSP, render_html
from chatbot_tester.evaluator.reports.compare_md import render_markdown

IDS = [f"s{i:02d}" for i in range(40)]


@pytest.fixture
def runs(make_run, tmp_path: Path) -> tuple[Path, Path, Path]:
    base = {sid: True for sid in IDS}
    cand = {sid: i >= 12 for i, sid in enumerate(IDS)}
    b = make_run("20250101-000000-aaaa", binary_scores("exact_match", base), report(100, 200))
    c = make_run("20250102-000000-bbbb", binary_scores("exact_match", cand), report(120, 250))
    same = make_run("20250103-000000-cccc", binary_scores("exact_match", base), report(100, 200))
    return b, c, same


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["compare", *args], env=env, catch_exceptions=False)


def test_regression_exits_1_and_prints_table(runs) -> None:
    b, c, _ = runs
    result = invoke(str(b), str(c))
    assert result.exit_code == 1, result.output
    assert "exact_match" in result.output and "regression" in result.output


def test_same_bot_exits_0(runs) -> None:
    b, _, same = runs
    result = invoke(str(b), str(same))
    assert result.exit_code == 0, result.output
    assert "no significant regression" in result.output


def test_run_ids_resolve_in_the_workspace(runs, tmp_path: Path) -> None:
    ws = tmp_path / "workspace"
    result = invoke("20250101-000000-aaaa", "latest", "--workspace", str(ws), "--format", "json")
    assert result.exit_code == 0  # latest is the "same" run
    data = json.loads(result.stdout)  # stderr: the "wrote compare.*" lines
    assert data["candidate"]["run_id"] == "20250103-000000-cccc"
    assert data["metrics"][0]["verdict"] == "no_change"


def test_unknown_run_id_is_a_usage_error(runs, tmp_path: Path) -> None:
    from chatbot_tester.errors import ResumeError

    with pytest.raises(ResumeError, match="no run"):
        invoke("nope", "latest", "--workspace", str(tmp_path / "workspace"))


def test_output_file_by_suffix_and_step_summary(runs, tmp_path: Path) -> None:
    b, c, _ = runs
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    out = tmp_path / "compare.html"
    result = invoke(str(b), str(c), "-o", str(out), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 1
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and CSP in html
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "**Regression** in `exact_match`" in text


def test_markdown_format_to_stdout(runs) -> None:
    b, c, _ = runs
    result = invoke(str(b), str(c), "--format", "md", "--alpha", "0.01")
    assert result.exit_code == 1
    assert "| exact\\_match | higher | 40 | 0 |" in result.output and "alpha 0.01" in result.output
    assert "latency.p95" in result.output


def test_unknown_suffix_needs_format(runs, tmp_path: Path) -> None:
    from chatbot_tester.errors import UsageError

    b, c, _ = runs
    with pytest.raises(UsageError, match="--format"):
        invoke(str(b), str(c), "-o", str(tmp_path / "out.txt"))


EVIL = "<script>alert(1)</script>|x"


def test_reports_escape_untrusted_names(make_run) -> None:
    base = [
        Score(sample_id=EVIL, metric=EVIL, value=1.0, passed=True),
        *binary_scores(EVIL, {s: True for s in IDS}),
    ]
    cand = [
        Score(sample_id=EVIL, metric=EVIL, value=0.0, passed=False),
        *binary_scores(EVIL, {s: False for s in IDS}),
    ]
    comp = compare_runs(make_run("b", base), make_run("c", cand))
    html = render_html(comp)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = render_markdown(comp)
    # raw text only inside code spans (shown literally), escaped everywhere else
    assert "<script>" not in re.sub(r"`[^`\n]*`", "", md)
    assert "\\<script\\>" in md
    table_rows = [line for line in md.splitlines() if line.startswith("| ") and "alert" in line]
    # the pipe in the name is escaped, so the row keeps its 13 cells
    assert table_rows and all(len(re.findall(r"(?<!\\)\|", row)) == 14 for row in table_rows)


def test_html_page_has_no_scripts_or_external_resources(runs) -> None:
    b, c, _ = runs
    html = render_html(compare_runs(b, c))
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html
    assert f'content="{CSP}"' in html


def test_html_renders_in_chromium_without_csp_violations(runs, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no chromium")
    b, c, _ = runs
    page_path = tmp_path / "compare.html"
    page_path.write_text(render_html(compare_runs(b, c)), encoding="utf-8")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            messages: list[str] = []
            page.on("console", lambda m: messages.append(m.text))
            page.goto(page_path.as_uri())
            assert "Regression in exact_match" in page.inner_text("p.banner")
            rows = page.locator("tbody tr").count()
            assert rows >= 1
            assert not [m for m in messages if "Content Security Policy" in m]
        finally:
            browser.close()


def test_text_table_does_not_interpret_markup_in_names(make_run) -> None:
    name = "assert:[bold]x[/bold]"
    b = make_run("b", binary_scores(name, {s: True for s in IDS}))
    c = make_run("c", binary_scores(name, {s: True for s in IDS}))
    result = invoke(str(b), str(c), env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "assert:[bold]x[/bold]" in result.output
