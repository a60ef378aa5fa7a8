"""``junit.xml``: one ``<testsuite>`` per metric, one ``<testcase>`` per sample (repeat, turn).

``<failure>`` carries the reason of a failed verdict, ``<error>`` a sample without an answer
or a metric that could not score, ``<skipped>`` a metric that gives no verdict by design (a
value without a threshold). Built with ElementTree (so every text is escaped) after removing
characters XML 1.0 cannot carry; each suite is serialised on its own to bound memory.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from chatbot_tester.evaluator.records import iter_summary_scores

__all__ = ["clean_xml_text", "render_junit"]

_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_MESSAGE = 1000
_MAX_BODY = 20_000


def clean_xml_text(text: str, limit: int = _MAX_BODY) -> str:
    """``text`` without characters illegal in XML 1.0, cut to ``limit`` characters."""
    text = _ILLEGAL.sub("\ufffd", text)
    return text if len(text) <= limit else text[:limit] + "… [truncated]"


class _Case(NamedTuple):
    """The fields of a Score a test case needs (lighter than the model)."""

    sample_id: str
    repeat: int
    turn: int | None
    value: float | None
    passed: bool | None
    reason: str | None
    error: str | None


def _case_name(case: _Case) -> str:
    name = case.sample_id
    if case.repeat:
        name += f" #{case.repeat}"
    if case.turn is not None:
        name += f" turn {case.turn + 1}"
    return name


def _outcome(case: _Case) -> str:
    if case.error is not None:
        return "error"
    if case.passed is False:
        return "failure"
    return "skipped" if case.passed is None else "passed"


def _testcase(classname: str, case: _Case) -> ET.Element:
    elem = ET.Element("testcase", classname=classname, name=clean_xml_text(_case_name(case)))
    elem.set("time", "0")
    value = "" if case.value is None else f"value={case.value:g}"
    outcome = _outcome(case)
    if outcome == "error":
        assert case.error is not None
        kind = "no_answer" if case.error.startswith("no answer") else "metric_error"
        child = ET.SubElement(
            elem, "error", message=clean_xml_text(case.error, _MAX_MESSAGE), type=kind
        )
        child.text = clean_xml_text(case.error)
    elif outcome == "failure":
        reason = case.reason or "failed"
        message = f"{reason} ({value})" if value else reason
        child = ET.SubElement(
            elem, "failure", message=clean_xml_text(message, _MAX_MESSAGE), type="failed"
        )
        child.text = clean_xml_text(message)
    elif outcome == "skipped":
        why = f"no verdict by design ({value or 'no value'})"
        ET.SubElement(elem, "skipped", message=clean_xml_text(why, _MAX_MESSAGE))
    if outcome in ("passed", "skipped") and (value or case.reason):
        out = ET.SubElement(elem, "system-out")
        out.text = clean_xml_text(" ".join(p for p in (value, case.reason or "") if p))
    return elem


def _open_tag(tag: str, attrs: dict[str, str]) -> tuple[str, str]:
    """``<tag a="..">`` and ``</tag>`` with the attributes escaped by ElementTree."""
    elem = ET.Element(tag, attrs)
    elem.text = "\n"
    shell = ET.tostring(elem, encoding="unicode")
    open_tag, close_tag = shell.rsplit("\n", 1)
    return open_tag, close_tag


def render_junit(summary: dict[str, Any], scores_path: Path) -> bytes:
    """The ``junit.xml`` bytes for the scores in ``scores_path``."""
    pipeline = str(summary.get("pipeline") or summary.get("title") or "chatbot-tester")
    by_metric: dict[str, list[_Case]] = {}
    for s in iter_summary_scores(scores_path, summary):
        case = _Case(s.sample_id, s.repeat, s.turn, s.value, s.passed, s.reason, s.error)
        by_metric.setdefault(s.metric, []).append(case)
    order = [m for m in summary.get("metrics", {}) if m in by_metric]
    order += sorted(m for m in by_metric if m not in order)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    parts: list[bytes] = []
    for metric in order:
        cases = sorted(
            by_metric.pop(metric),
            key=lambda c: (c.sample_id, c.repeat, c.turn is not None, c.turn or 0),
        )
        outcomes = Counter(_outcome(c) for c in cases)
        counts = {
            "tests": len(cases),
            "failures": outcomes["failure"],
            "errors": outcomes["error"],
            "skipped": outcomes["skipped"],
        }
        for key, n in counts.items():
            totals[key] += n
        classname = clean_xml_text(f"{pipeline}.{metric}")
        open_tag, close_tag = _open_tag(
            "testsuite", {"name": classname, **{k: str(v) for k, v in counts.items()}, "time": "0"}
        )
        parts.append(open_tag.encode())
        parts.extend(
            ET.tostring(_testcase(classname, c), encoding="utf-8", xml_declaration=False)
            for c in cases
        )
        parts.append(close_tag.encode())
    open_tag, close_tag = _open_tag(
        "testsuites",
        {"name": clean_xml_text(pipeline), **{k: str(v) for k, v in totals.items()}, "time": "0"},
    )
    head = b'<?xml version="1.0" encoding="utf-8"?>\n' + open_tag.encode()
    return head + b"\n" + b"\n".join(parts) + b"\n" + close_tag.encode() + b"\n"
