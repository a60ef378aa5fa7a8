"""report.md: terminal escapes stripped from untrusted text, honest heading without gates, TTFT percentiles."""

from __future__ import annotations

from pathlib import Path

from report_helpers import evaluate, record

from chatbot_tester.evaluator.reports.markdown import md_code, md_escape
from chatbot_tester.evaluator.reports.text import clean_text

ANSI = "id\x1b[2J\x1b]0;TITLE\x07\x1b[31m\nerror: fake\x9b1m\x85end"


def test_clean_text_strips_escapes_and_controls_and_flattens_lines() -> None:
    assert clean_text(ANSI) == "id error: fake end"  # NEL (\x85) is a line break
    assert clean_text("plain [bold] text") == "plain [bold] text"
    assert clean_text("a\tb\r\nc\x00d\x7f") == "a b cd"
    for escaped in (md_escape(ANSI), md_code(ANSI)):
        assert "\x1b" not in escaped and "TITLE" not in escaped and "31m" not in escaped
        assert "\n" not in escaped


def test_report_md_strips_escapes_from_ids_answers_and_reasons(tmp_path: Path) -> None:
    samples = [{"id": ANSI, "input": "q\x1b[5mblink", "expected": "x"}]
    records = [record(ANSI, "answer\x1b]8;;http://evil\x07link\x1b]8;;\x07")]
    _, paths = evaluate(tmp_path, samples, records, {"metrics": [{"type": "exact_match"}]})
    md = paths["md"].read_text()
    assert "\x1b" not in md and "\x07" not in md and "\x9b" not in md
    assert "TITLE" not in md
    assert not any(line.startswith("error: fake") for line in md.splitlines())
    row = next(line for line in md.splitlines() if line.startswith("| id error: fake end |"))
    assert "| qblink | answerlink |" in row


def test_heading_without_gates_does_not_claim_passed(tmp_path: Path) -> None:
    samples = [{"id": "a", "input": "q", "expected": "x"}]
    _, paths = evaluate(
        tmp_path, samples, [record("a", "wrong")], {"metrics": [{"type": "exact_match"}]}
    )
    first = paths["md"].read_text().splitlines()[0]
    assert first == "## ℹ️ demo: no gates configured"
    assert "passed" not in first


def test_heading_with_gates_says_passed_or_failed(tmp_path: Path) -> None:
    samples = [{"id": "a", "input": "q", "expected": "x"}]
    cfg = {"metrics": [{"type": "exact_match"}], "thresholds": ["exact_match.pass_rate >= 1"]}
    (tmp_path / "ok").mkdir()
    (tmp_path / "bad").mkdir()
    _, ok = evaluate(tmp_path / "ok", samples, [record("a", "x")], cfg)
    assert ok["md"].read_text().startswith("## ✅ demo: passed")
    _, bad = evaluate(tmp_path / "bad", samples, [record("a", "y")], cfg)
    assert bad["md"].read_text().startswith("## ❌ demo: failed")


def test_ttft_percentiles(tmp_path: Path) -> None:
    samples = [{"id": f"s{i}", "input": "q", "expected": "x"} for i in range(100)]
    records = [record(f"s{i}", "x", latency_ms=100.0 + i, ttft_ms=float(i + 1)) for i in range(100)]
    _, paths = evaluate(tmp_path, samples, records, {"metrics": [{"type": "exact_match"}]})
    md = paths["md"].read_text()
    assert "**TTFT (ms):** p50 50.5 · p95 95.0 · p99 99.0" in md
