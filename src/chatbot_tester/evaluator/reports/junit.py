"""``junit.xml``: one ``<testsuite>`` per metric, one ``<testcase>`` per sample (repeat, turn).

``<failure>`` carries the reason of a failed verdict, ``<error>`` a sample without an answer
or a metric that could not score, ``<skipped>`` a metric that gives no verdict by design (a
value without a threshold). A case's ``time`` is the chatbot's latency for it in seconds (the
record's, or the turn's for a per-turn score; 0 without an answer), a suite's the sum of its
cases, and ``<testsuites>``' the sum over the records (each counted once). Characters XML 1.0 cannot carry are removed and every text is
escaped as ElementTree escapes it (the suite tags are built with it, the cases by hand, ~10x
faster). Cases are spooled per metric to temporary files, so memory stays flat in N.
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from typing import IO, NamedTuple

from chatbot_tester.common.redact import mask_secrets
from chatbot_tester.common.schemas import RunRecord
from chatbot_tester.evaluator.report_model import EvalReport
from chatbot_tester.evaluator.reports.base import Reporter, Row

__all__ = ["JunitReporter", "clean_xml_text"]

# Characters illegal in XML 1.0, spelled as the complement of its Char production (the
# negated form compiles ~8x slower: ~3.5 ms of every run's start-up).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MAX_MESSAGE = 1000
_MAX_BODY = 20_000


def clean_xml_text(text: str, limit: int = _MAX_BODY) -> str:
    """``text`` without characters illegal in XML 1.0, cut to ``limit`` characters."""
    text = _ILLEGAL.sub("\ufffd", mask_secrets(text))
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
    time: str = "0"
    """The ``time`` attribute (formatted once per record, shared by its metrics' cases)."""


def _case_name(case: _Case) -> str:
    name = case.sample_id
    if case.repeat:
        name += f" #{case.repeat}"
    if case.turn is not None:
        name += f" turn {case.turn + 1}"
    return name


def _seconds(record: RunRecord | None, turn: int | None) -> float:
    """The chatbot's latency behind a score, in seconds (0 when unknown)."""
    if record is None:
        return 0.0
    latency = record.latency_ms
    if turn is not None and record.turns is not None and 0 <= turn < len(record.turns):
        latency = record.turns[turn].latency_ms
    return max(latency or 0.0, 0.0) / 1000.0


def _time(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds else "0"


def _outcome(case: _Case) -> str:
    if case.error is not None:
        return "error"
    if case.passed is False:
        return "failure"
    return "skipped" if case.passed is None else "passed"


_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#09;",
    }
)


def _attr(text: str) -> str:
    """An attribute value escaped as ElementTree escapes it."""
    return text.translate(_ATTR)


def _testcase(classname: str, case: _Case) -> str:
    """One ``<testcase>`` element (written by hand: ElementTree per case costs ~70 us)."""
    head = (
        f'<testcase classname="{_attr(classname)}" '
        f'name="{_attr(clean_xml_text(_case_name(case)))}" time="{case.time}"'
    )
    value = "" if case.value is None else f"value={case.value:g}"
    outcome = _outcome(case)
    body = ""
    if outcome == "error":
        assert case.error is not None
        kind = "no_answer" if case.error.startswith("no answer") else "metric_error"
        body = (
            f'<error message="{_attr(clean_xml_text(case.error, _MAX_MESSAGE))}" type="{kind}">'
            f"{clean_xml_text(case.error).translate(_TEXT)}</error>"
        )
    elif outcome == "failure":
        reason = case.reason or "failed"
        message = f"{reason} ({value})" if value else reason
        body = (
            f'<failure message="{_attr(clean_xml_text(message, _MAX_MESSAGE))}" type="failed">'
            f"{clean_xml_text(message).translate(_TEXT)}</failure>"
        )
    elif outcome == "skipped":
        why = f"no verdict by design ({value or 'no value'})"
        body = f'<skipped message="{_attr(clean_xml_text(why, _MAX_MESSAGE))}" />'
    if outcome in ("passed", "skipped") and (value or case.reason):
        out = clean_xml_text(" ".join(p for p in (value, case.reason or "") if p))
        body += f"<system-out>{out.translate(_TEXT)}</system-out>"
    return f"{head}>{body}</testcase>" if body else f"{head} />"


def _open_tag(tag: str, attrs: dict[str, str]) -> tuple[str, str]:
    """``<tag a="..">`` and ``</tag>`` with the attributes escaped by ElementTree."""
    elem = ET.Element(tag, attrs)
    elem.text = "\n"
    shell = ET.tostring(elem, encoding="unicode")
    open_tag, close_tag = shell.rsplit("\n", 1)
    return open_tag, close_tag


class JunitReporter(Reporter):
    """``junit.xml``: test cases are spooled to one temporary file per metric as rows go by.

    A suite must be contiguous in the XML while rows arrive sample by sample, so each
    metric's ``<testcase>`` elements go to their own temporary file (memory stays flat) and
    are copied into place, one suite after another, by ``finish``. Cases keep the order the
    rows arrived in.
    """

    file_name = "junit.xml"

    def __init__(self, out: IO[bytes], *, baseline: EvalReport | None = None) -> None:
        """Start an empty report on ``out``."""
        super().__init__(out, baseline=baseline)
        self._spools: dict[str, tuple[IO[bytes], Counter[str]]] = {}
        self._suite_seconds: dict[str, float] = defaultdict(float)
        self._total_seconds = 0.0
        self._classname = "chatbot-tester"
        self._pipeline: str | None = None

    def add(self, row: Row) -> None:
        """Take one row (see ``Reporter.add``)."""
        whole = _seconds(row.record, None)
        whole_time = _time(whole)
        self._total_seconds += whole
        for s in row.scores:
            spool = self._spools.get(s.metric)
            if spool is None:
                spool = self._spools[s.metric] = (tempfile.TemporaryFile(), Counter())  # noqa: SIM115
            seconds, time = whole, whole_time
            if s.turn is not None:
                seconds = _seconds(row.record, s.turn)
                time = _time(seconds)
            case = _Case(s.sample_id, s.repeat, s.turn, s.value, s.passed, s.reason, s.error, time)
            spool[1][_outcome(case)] += 1
            self._suite_seconds[s.metric] += seconds
            # the classname needs the pipeline, known at finish: a placeholder is replaced then
            spool[0].write(_testcase(_PLACEHOLDER, case).encode("utf-8") + b"\n")

    def finish(self, report: EvalReport) -> None:
        """Write the report (see ``Reporter.finish``)."""
        pipeline = str(report.pipeline or report.title or "chatbot-tester")
        order = [m for m in report.metrics if m in self._spools]
        order += sorted(m for m in self._spools if m not in order)
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for outcome_counts in (c for _, c in self._spools.values()):
            totals["tests"] += sum(outcome_counts.values())
            totals["failures"] += outcome_counts["failure"]
            totals["errors"] += outcome_counts["error"]
            totals["skipped"] += outcome_counts["skipped"]
        open_tag, close_tag = _open_tag(
            "testsuites",
            {
                "name": clean_xml_text(pipeline),
                **{k: str(v) for k, v in totals.items()},
                "time": _time(self._total_seconds),
            },
        )
        self.out.write(b'<?xml version="1.0" encoding="utf-8"?>\n' + open_tag.encode() + b"\n")
        for metric in order:
            spool, outcomes = self._spools.pop(metric)
            counts = {
                "tests": sum(outcomes.values()),
                "failures": outcomes["failure"],
                "errors": outcomes["error"],
                "skipped": outcomes["skipped"],
            }
            classname = clean_xml_text(f"{pipeline}.{metric}")
            suite_open, suite_close = _open_tag(
                "testsuite",
                {
                    "name": classname,
                    **{k: str(v) for k, v in counts.items()},
                    "time": _time(self._suite_seconds[metric]),
                },
            )
            attr = f'classname="{_attr(classname)}"'.encode()
            self.out.write(suite_open.encode() + b"\n")
            spool.seek(0)
            for line in spool:
                self.out.write(line.replace(_PLACEHOLDER_ATTR, attr, 1))
            spool.close()
            self.out.write(suite_close.encode() + b"\n")
        self.out.write(close_tag.encode() + b"\n")

    def close(self) -> None:
        """Drop the spooled cases."""
        for spool, _ in self._spools.values():
            spool.close()
        self._spools.clear()


_PLACEHOLDER = "\ue000classname\ue000"
_PLACEHOLDER_ATTR = b'classname="' + _PLACEHOLDER.encode() + b'"'
