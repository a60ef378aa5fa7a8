"""The hand-written ``<testcase>`` elements parse back to exactly the texts they carry."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chatbot_tester.evaluator.reports.junit import _Case, _testcase, clean_xml_text

HOSTILE = 'a"b\'c<d>&e\n\tf</testcase><x y="1">]]>\x00\x1b[2J\ud7ff'
"""Quotes, markup, a CDATA end, line breaks and characters XML 1.0 cannot carry."""


def test_hostile_texts_round_trip() -> None:
    cases = [
        _Case(HOSTILE, 2, 1, 0.5, False, HOSTILE, None),
        _Case(HOSTILE, 0, None, None, None, HOSTILE, HOSTILE),
        _Case("s", 0, None, 1.0, None, HOSTILE, None),
        _Case("s", 0, None, 1.0, True, HOSTILE, None),
        _Case("s", 0, None, None, True, None, None),
    ]
    expected = clean_xml_text(HOSTILE)
    for case in cases:
        elem = ET.fromstring(_testcase(expected, case))
        assert elem.tag == "testcase" and elem.get("classname") == expected
        assert elem.get("name", "").startswith(clean_xml_text(case.sample_id))
        children = {child.tag: child for child in elem}
        if case.error is not None:
            assert children["error"].text == expected
            assert children["error"].get("message") == expected
        elif case.passed is False:
            assert children["failure"].text == f"{expected} (value=0.5)"
        elif case.passed is None:
            assert "skipped" in children and children["system-out"].text == f"value=1 {expected}"
        elif case.reason:
            assert children["system-out"].text == f"value=1 {expected}"
        else:
            assert children == {}
