"""No field of a report can run script: payloads in every field stay visible text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_helpers import evaluate, open_page, record, visible_ids

from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.metrics import Metric, MetricInput, metric_registry

PAYLOADS = [
    "<script>window.__pwned=1;alert(1)</script>",
    '<img src=x onerror="window.__pwned=2;alert(2)">',
    "</script><script>window.__pwned=3;alert(3)</script>",
    '<a href="javascript:window.__pwned=4">click me</a>',
    '<svg onload="window.__pwned=5;alert(5)"></svg>',
    "line\u2028separator\u2029paragraph</script ><!--",
    '"\'><iframe srcdoc="<script>parent.__pwned=6</script>"></iframe>',
    "]]><![CDATA[ & &amp; ${alert(7)} {{7*7}}",
]


class EchoReason(Metric):
    """Fails with the answer as its reason and in its details (a hostile judge)."""

    def score(self, item: MetricInput) -> Score:
        text = item.output or ""
        return self.make(
            item, 0.0, False, reason=text, details={"votes": [text, {"why": text}], text[:40]: text}
        )


if "h8_echo_reason" not in metric_registry:
    metric_registry.register("h8_echo_reason", EchoReason)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("xss")
    samples, records = [], []
    for i, p in enumerate(PAYLOADS):
        sid = f"x{i}{p}"
        samples.append(
            {
                "id": sid,
                "input": f"in {p}",
                "expected": f"exp {p}",
                "tags": [p],
                "assertions": [{"type": "contains", "value": "zzz", "name": p}],
            }
        )
        records.append(
            record(sid, f"ans {p}", latency_ms=10.0 + i, model=p)
            if i % 2 == 0
            else record(
                sid, None, error={"kind": "http", "message": f"err {p}", "status_code": 500}
            )
        )
    samples.append({"id": "multi<script>", "turns": [{"user": p} for p in PAYLOADS[:3]]})
    records.append(
        record(
            "multi<script>",
            PAYLOADS[2],
            turns=[
                {"index": n, "user": p, "response": {"text": p}} for n, p in enumerate(PAYLOADS[:3])
            ],
        )
    )
    _, paths = evaluate(
        tmp,
        samples,
        records,
        {
            "metrics": [{"type": "exact_match"}, {"type": "h8_echo_reason", "name": PAYLOADS[1]}],
            "thresholds": ["exact_match.pass_rate >= 0.5"],
            "report": {"title": PAYLOADS[0]},
        },
    )
    return paths["html"]


def test_payloads_cannot_close_the_data_block(hostile: Path) -> None:
    html = hostile.read_text()
    assert html.lower().count("</script") == 2  # the data block and our script, nothing else
    assert "\u2028" not in html and "\u2029" not in html
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert data is not None
    assert "<" not in data.group(1) and ">" not in data.group(1) and "&" not in data.group(1)
    payload = json.loads(data.group(1))
    assert any(r["i"] == f"x0{PAYLOADS[0]}" for r in payload["rows"])
    assert "<title>&lt;script&gt;" in html


def test_no_script_runs_from_any_field(hostile: Path) -> None:
    with open_page(hostile) as page:
        ids = visible_ids(page)
        assert len(ids) == len(PAYLOADS) + 1  # our own script ran and rendered the table
        for i in range(len(PAYLOADS)):
            page.click(f"#rows .row[data-index='{i}']")
            page.wait_for_selector("#detail:not([hidden])")
            body = page.text_content("#detail-body")
            p = PAYLOADS[i]
            assert f"in {p}" in body
            assert (f"ans {p}" if i % 2 == 0 else f"err {p}") in body
            assert page.text_content("#detail-title") == f"x{i}{p}"
            page.click("#detail-close")
        page.click("#rows .row[data-id='multi<script>']")
        conv = page.text_content("#conversation")
        assert all(p in conv for p in PAYLOADS[:3])
        page.fill("#search", "iframe srcdoc")
        page.wait_for_function(
            "() => document.getElementById('count').textContent === 'showing 1 of 9'"
        )
        summary = page.text_content("#summary")
        assert PAYLOADS[1] in summary  # metric name shown as text
        assert page.title() == PAYLOADS[0]
        assert PAYLOADS[0] == page.text_content("#title")

        assert page.dialogs == []
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("window.__violations") == []
        assert page.console_errors == []
        assert (
            page.evaluate("document.querySelectorAll('img, iframe, a[href], svg [onload]').length")
            == 0
        )
        assert all(url.startswith("file://") for url in page.requests)
