"""report.html in headless Chromium: scrolling, search, filters, sort, detail view."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_helpers import evaluate, open_page, record, visible_ids

N = 300


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    samples = [
        {
            "id": f"s{i:04d}",
            "input": f"question number {i}",
            "expected": f"answer {i}",
            "tags": ["even" if i % 2 == 0 else "odd"],
        }
        for i in range(N)
    ]
    samples.append(
        {
            "id": "multi",
            "turns": [
                {"user": "Hi there", "expected": "Hello, how can I help?"},
                {"user": "What is the capital of France?", "expected": "The capital is Paris."},
            ],
            "expected": "The capital is Paris.",
        }
    )
    records = [
        # every third answer is wrong, every 50th sample times out
        record(f"s{i:04d}", None)
        if i % 50 == 7
        else record(
            f"s{i:04d}", f"answer {i}" if i % 3 else f"wrong reply {i}", latency_ms=float(1000 - i)
        )
        for i in range(N)
    ]
    records.append(
        record(
            "multi",
            "The capital city is Paris.",
            latency_ms=5.0,
            turns=[
                {"index": 0, "user": "Hi there", "response": {"text": "Hello, how can I help?"}},
                {
                    "index": 1,
                    "user": "What is the capital of France?",
                    "response": {"text": "The capital city is Paris."},
                },
            ],
        )
    )
    _, paths = evaluate(
        tmp,
        samples,
        records,
        {"metrics": [{"type": "exact_match"}, {"type": "h8_votes", "name": "judge"}]},
    )
    return paths["html"]


def test_self_contained_with_strict_csp(report: Path) -> None:
    html = report.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    assert "default-src 'none'" in csp.group(1)
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", csp.group(1))
    assert "unsafe-inline" not in csp.group(1).split("script-src")[1].split(";")[0]
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html


def test_every_sample_reachable_by_scrolling_with_bounded_dom(report: Path) -> None:
    with open_page(report) as page:
        assert page.text_content("#count") == f"showing {N + 1} of {N + 1}"
        seen: set[str] = set()
        most = 0
        for _ in range(200):
            ids = visible_ids(page)
            most = max(most, len(ids))
            seen.update(ids)
            at_end = page.evaluate(
                "() => { const v = document.getElementById('viewport');"
                " const end = v.scrollTop + v.clientHeight >= v.scrollHeight - 1;"
                " v.scrollTop += v.clientHeight; return end; }"
            )
            page.wait_for_timeout(30)
            if at_end:
                break
        seen.update(visible_ids(page))
        assert seen == {f"s{i:04d}" for i in range(N)} | {"multi"}
        assert most < 80  # virtual scrolling: only the visible window is in the DOM
        assert page.console_errors == []


def test_search_filters_rows(report: Path) -> None:
    with open_page(report) as page:
        page.fill("#search", "question number 123")
        page.wait_for_function(
            "() => document.getElementById('count').textContent === 'showing 1 of 301'"
        )
        assert visible_ids(page) == ["s0123"]
        page.fill("#search", "wrong reply")
        page.wait_for_function(
            "() => document.getElementById('count').textContent !== 'showing 1 of 301'"
        )
        expected = sum(1 for i in range(N) if i % 3 == 0 and i % 50 != 7)
        assert page.text_content("#count") == f"showing {expected} of {N + 1}"


def test_status_tag_and_metric_filters(report: Path) -> None:
    with open_page(report) as page:
        tags = page.text_content("#tags-table")
        assert "even" in tags and "odd" in tags
        summary = page.text_content("#metrics-table")
        assert f"scored {N + 1 - 6} of {N + 1}" in summary  # 6 samples without an answer
        page.select_option("#status-filter", "error")
        errors = [f"s{i:04d}" for i in range(N) if i % 50 == 7]
        assert page.text_content("#count") == f"showing {len(errors)} of {N + 1}"
        assert visible_ids(page) == errors
        page.select_option("#status-filter", "fail")
        statuses = page.eval_on_selector_all("#rows .row .badge", "b => b.map(x => x.textContent)")
        assert statuses and set(statuses) == {"fail"}
        page.select_option("#status-filter", "")
        page.select_option("#tag-filter", "odd")
        assert page.text_content("#count") == f"showing {N // 2} of {N + 1}"
        page.select_option("#tag-filter", "")
        page.select_option("#metric-filter", label="exact_match")
        page.select_option("#status-filter", "pass")
        passing = sum(1 for i in range(N) if i % 3 and i % 50 != 7)  # multi fails exact_match
        assert page.text_content("#count") == f"showing {passing} of {N + 1}"


def test_sort_by_latency(report: Path) -> None:
    with open_page(report) as page:
        page.click("#thead button[data-key='l']")
        assert visible_ids(page)[0] == "multi"  # 5 ms, the fastest
        page.click("#thead button[data-key='l']")
        first = visible_ids(page)[0]
        assert first == "s0000"  # 1000 ms, the slowest
        assert page.get_attribute("#thead button[data-key='l']", "aria-sort") == "descending"
        page.click("#thead button[data-key='id']")
        ids = visible_ids(page)
        assert ids == sorted(ids)


def test_detail_view_shows_conversation_diff_and_votes(report: Path) -> None:
    with open_page(report) as page:
        page.fill("#search", "multi")
        page.wait_for_function(
            "() => document.getElementById('count').textContent === 'showing 1 of 301'"
        )
        page.click("#rows .row[data-id='multi']")
        page.wait_for_selector("#detail:not([hidden])")
        assert page.text_content("#detail-title") == "multi"
        conv = page.text_content("#conversation")
        for text in (
            "Hi there",
            "Hello, how can I help?",
            "What is the capital of France?",
            "The capital city is Paris.",
        ):
            assert text in conv
        dels = page.eval_on_selector_all("#detail-body .diff del", "e => e.map(x => x.textContent)")
        ins = page.eval_on_selector_all("#detail-body .diff ins", "e => e.map(x => x.textContent)")
        assert dels == []  # expected "The capital is Paris." is contained in the answer
        assert [i.strip() for i in ins] == ["city", "city"]  # turn 2 and the whole sample
        scores = page.text_content("#scores-table")
        assert "judge" in scores and "exact_match" in scores and "turn 2" in scores
        votes = page.eval_on_selector_all(
            "#scores-table .votes li", "e => e.map(x => x.textContent)"
        )
        assert votes[:3] == [
            "vote 1: score 5.000 — vote 0 on multi",  # the whole-sample score comes first
            "vote 2: score 5.000 — vote 1 on multi",
            "vote 3: error: unparseable verdict",
        ]
        page.keyboard.press("Escape")
        assert page.is_hidden("#detail")

        page.fill("#search", "wrong reply 3")
        page.wait_for_function(
            "() => document.getElementById('count').textContent === 'showing 5 of 301'"
        )
        page.click("#rows .row[data-id='s0003']")
        dels = page.eval_on_selector_all(
            "#detail-body .diff del", "e => e.map(x => x.textContent.trim())"
        )
        ins = page.eval_on_selector_all(
            "#detail-body .diff ins", "e => e.map(x => x.textContent.trim())"
        )
        assert dels == ["answer"] and ins == ["wrong reply"]
        assert page.is_visible("#scores-table .badge.unstable")  # the judge flagged it

        page.click("#detail-close")
        page.fill("#search", "question number 7")
        page.wait_for_function(
            "() => document.getElementById('count').textContent === 'showing 11 of 301'"
        )
        page.click("#rows .row[data-id='s0007']")
        body = page.text_content("#detail-body")
        assert "timeout: no answer in 1s" in body
        assert "no answer" in page.text_content("#scores-table")
