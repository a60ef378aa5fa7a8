"""junit.xml read back by junitparser and ElementTree; report.md content and the step summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import anyio
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from report_helpers import evaluate, record

from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.orchestrator.stages import EvaluateJob, evaluate_job

HOSTILE = "<b>bold</b> & `code` | pipe @octocat [link](javascript:alert(1)) \x00\x07\x1b end"
NASTY_ID = 'nasty <&> "q" \x07'


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], object]:
    tmp = tmp_path_factory.mktemp("junit")
    samples = [
        {"id": "ok1", "input": "q1", "expected": "a"},
        {"id": "bad1", "input": "what is the refund policy?", "expected": "30 days"},
        {"id": "err1", "input": "q3", "expected": "c"},
        {"id": NASTY_ID, "input": HOSTILE, "expected": "x"},
        {
            "id": "multi",
            "turns": [{"user": "hi", "expected": "hello"}, {"user": "bye", "expected": "bye"}],
            "expected": "bye",
        },
    ]
    records = [
        record("ok1", "a", repeat=0, latency_ms=10.0),
        record("ok1", "b", repeat=1, latency_ms=20.0),
        record("bad1", "We never refund.", latency_ms=30.0),
        record("err1", None),
        record(NASTY_ID, HOSTILE, latency_ms=40.0),
        record(
            "multi",
            "bye",
            latency_ms=50.0,
            turns=[
                {"index": 0, "user": "hi", "response": {"text": "hey"}},
                {"index": 1, "user": "bye", "response": {"text": "bye"}},
            ],
        ),
    ]
    ev, paths = evaluate(
        tmp,
        samples,
        records,
        {
            "metrics": [{"type": "exact_match"}, {"type": "latency"}],
            "thresholds": ["exact_match.pass_rate >= 0.9", "latency.p95 <= 1000"],
            "report": {"title": "Support bot"},
        },
    )
    return tmp, paths, ev


def test_junit_counts_match_the_scores(run: tuple[Path, dict[str, Path], object]) -> None:
    tmp, paths, _ = run
    scores = [json.loads(line) for line in (tmp / "out" / "scores.jsonl").read_text().splitlines()]
    xml = JUnitXml.fromfile(str(paths["junit"]))
    cases = [case for suite in xml for case in suite]
    assert len(cases) == len(scores)
    kinds = {"failure": 0, "error": 0, "skipped": 0}
    for case in cases:
        for result in case.result:
            if isinstance(result, Failure):
                kinds["failure"] += 1
            elif isinstance(result, Error):
                kinds["error"] += 1
            elif isinstance(result, Skipped):
                kinds["skipped"] += 1
    assert kinds["failure"] == sum(1 for s in scores if s["passed"] is False and s["error"] is None)
    assert kinds["error"] == sum(1 for s in scores if s["error"] is not None)
    assert kinds["skipped"] == sum(1 for s in scores if s["passed"] is None and s["error"] is None)
    assert kinds["skipped"] > 0  # latency without max_ms: a value, no verdict by design
    assert (xml.failures, xml.errors, xml.skipped, xml.tests) == (
        kinds["failure"],
        kinds["error"],
        kinds["skipped"],
        len(scores),
    )

    by_name = {(c.classname, c.name): c for c in cases}
    assert ("demo.exact_match", "ok1 #1") in by_name
    assert ("demo.exact_match", "multi turn 1") in by_name
    bad = by_name[("demo.exact_match", "bad1")]
    assert isinstance(bad.result[0], Failure)
    err = by_name[("demo.exact_match", "err1")]
    assert isinstance(err.result[0], Error) and "no answer: timeout" in (
        err.result[0].message or ""
    )


def test_junit_is_valid_xml_with_illegal_characters_removed(
    run: tuple[Path, dict[str, Path], object],
) -> None:
    _, paths, _ = run
    raw = paths["junit"].read_bytes()
    assert b"\x00" not in raw and b"\x07" not in raw and b"\x1b" not in raw
    root = ET.fromstring(raw)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["demo.exact_match", "demo.latency"]
    assert sum(int(s.get("tests", "0")) for s in suites) == int(root.get("tests", "-1"))
    nasty = [c for c in root.iter("testcase") if c.get("name") == 'nasty <&> "q" \ufffd']
    assert len(nasty) == 2  # exact_match and latency, special characters read back intact
    assert nasty[0].find("failure") is not None


def test_markdown_summary(run: tuple[Path, dict[str, Path], object]) -> None:
    _, paths, _ = run
    md = paths["md"].read_text()
    lines = md.splitlines()
    assert lines[0].startswith("## ❌ Support bot: failed")
    assert "**Gates:** 1 passed, 1 failed" in md
    assert "| `exact_match` |" in md
    assert "| metric | mean [95% CI] | pass rate [95% CI] | scored | errors |" in md
    assert "| 5 of 6 | 1 |" in md  # 6 records (ok1 ran twice), 1 without an answer
    assert "**Latency (ms):** p50" in md and "p99" in md
    assert "**Errors:** 1 of 6 records (timeout: 1)" in md
    assert "**Cost:** unknown" in md
    assert "### Top" in md and "bad1" in md and "We never refund." in md
    nasty = next(line for line in lines if line.startswith("| nasty"))
    assert "<b>" not in nasty and "&lt;b&gt;" in nasty  # HTML neutralised
    assert "\\[link\\]\\(javascript:" in nasty  # no Markdown link
    assert "@octocat" not in nasty  # no mention
    assert nasty.count(" | ") == 4  # the pipe inside the text cannot add a column
    assert "\x00" not in md


def test_markdown_is_appended_to_the_github_step_summary(
    run: tuple[Path, dict[str, Path], object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, _, _ = run
    summary_file = tmp_path / "step_summary.md"
    summary_file.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    job = EvaluateJob(
        dataset=tmp / "dataset.jsonl",
        results=tmp / "results.jsonl",
        out_dir=tmp_path / "again",
        evaluator=EvaluatorConfig.model_validate({"metrics": [{"type": "exact_match"}]}),
        base_dir=tmp,
        formats=("md", "json"),
    )
    paths = anyio.run(lambda: evaluate_job(job)).reports
    text = summary_file.read_text()
    assert text.startswith("earlier step\n")
    assert paths["md"].read_text() in text
    assert json.loads(paths["json"].read_text())["metrics"]["exact_match"]["total"] == 6
    anyio.run(lambda: evaluate_job(job.model_copy(update={"formats": ("json",)})))
    assert summary_file.read_text() == text  # only the md format appends
