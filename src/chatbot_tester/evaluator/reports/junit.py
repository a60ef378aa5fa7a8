"""``junit.xml``: one ``<testsuite>`` per metric, one ``<testcase>`` per sample (repeat, turn).

``<failure>`` carries the reason of a failed verdict, ``<error>`` a sample without an answer
or a metric that could not score, ``<skipped>`` a metric that gives no verdict by design (a
value without a threshold). Built with ElementTree (so every text is escaped) after removing
characters XML 1.0 cannot carry; each suite is serialised on its own to bound memory.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.records import iter_unique_scores

__all__ = ["clean_xml_text", "render_junit"]

_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_MESSAGE = 1000
_MAX_BODY = 20_000


def clean_xml_text(text: str, limit: int = _MAX_BODY) -> str:
    """``text`` without characters illegal in XML 1.0, cut to ``limit`` characters."""
    text = _ILLEGAL.sub("\ufffd", text)
    return text if len(text) <= limit else text[:limit] + "… [truncated]"


def _case_name(score: Score) -> str:
    name = score.sample_id
    if score.repeat:
        name += f" #{score.repeat}"
    if score.turn is not None:
        name += f" turn {score.turn + 1}"
    return name


def _testcase(classname: str, score: Score) -> tuple[ET.Element, str]:
    case = ET.Element(
        "testcase", classname=clean_xml_text(classname), name=clean_xml_text(_case_name(score))
    )
    case.set("time", "0")
    value = "" if score.value is None else f"value={score.value:g}"
    if score.error is not None:
        outcome = "error"
        kind = "no_answer" if score.error.startswith("no answer") else "metric_error"
        child = ET.SubElement(
            case, "error", message=clean_xml_text(score.error, _MAX_MESSAGE), type=kind
        )
        child.text = clean_xml_text(score.error)
    elif score.passed is False:
        outcome = "failure"
        reason = score.reason or "failed"
        message = f"{reason} ({value})" if value else reason
        child = ET.SubElement(
            case, "failure", message=clean_xml_text(message, _MAX_MESSAGE), type="failed"
        )
        child.text = clean_xml_text(message)
    elif score.passed is None:
        outcome = "skipped"
        ET.SubElement(
            case,
            "skipped",
            message=clean_xml_text(f"no verdict by design ({value or 'no value'})", _MAX_MESSAGE),
        )
    else:
        outcome = "passed"
    if score.passed is not False and (value or score.reason):
        out = ET.SubElement(case, "system-out")
        out.text = clean_xml_text(" ".join(p for p in (value, score.reason or "") if p))
    return case, outcome


def render_junit(summary: dict[str, Any], scores_path: Path) -> bytes:
    """The ``junit.xml`` bytes for the scores in ``scores_path``."""
    pipeline = str(summary.get("pipeline") or summary.get("title") or "chatbot-tester")
    by_metric: dict[str, list[Score]] = {}
    for score in iter_unique_scores(scores_path):
        by_metric.setdefault(score.metric, []).append(score)
    order = [m for m in summary.get("metrics", {}) if m in by_metric]
    order += sorted(m for m in by_metric if m not in order)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suites: list[bytes] = []
    for metric in order:
        scores = sorted(
            by_metric.pop(metric),
            key=lambda s: (s.sample_id, s.repeat, s.turn is not None, s.turn or 0),
        )
        suite = ET.Element("testsuite", name=clean_xml_text(f"{pipeline}.{metric}"))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for score in scores:
            case, outcome = _testcase(f"{pipeline}.{metric}", score)
            suite.append(case)
            counts["tests"] += 1
            if outcome == "failure":
                counts["failures"] += 1
            elif outcome in ("error", "skipped"):
                counts["errors" if outcome == "error" else "skipped"] += 1
        for key, n in counts.items():
            suite.set(key, str(n))
            totals[key] += n
        suite.set("time", "0")
        suites.append(ET.tostring(suite, encoding="unicode").encode("utf-8"))
    root = ET.Element("testsuites", name=clean_xml_text(pipeline), time="0")
    for key, n in totals.items():
        root.set(key, str(n))
    root.text = "\n"
    shell = ET.tostring(root, encoding="unicode")  # <testsuites ...>\n</testsuites>
    open_tag, close_tag = shell.rsplit("\n", 1)
    body = b"\n".join(suites)
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        + open_tag.encode()
        + b"\n"
        + body
        + b"\n"
        + close_tag.encode()
        + b"\n"
    )
