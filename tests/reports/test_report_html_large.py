"""A 100k-sample report stays usable: a bounded DOM (virtual scrolling) and search finds the last sample."""

from __future__ import annotations

from pathlib import Path

from report_helpers import evaluate, open_page, record, visible_ids

N = 100_000


def test_100k_samples_render_a_bounded_number_of_rows(tmp_path: Path) -> None:
    samples = [
        {"id": f"s{i:06d}", "input": f"question {i}", "expected": f"answer {i}"} for i in range(N)
    ]
    records = [
        record(f"s{i:06d}", f"answer {i}" if i % 4 else f"nope {i}", latency_ms=float(i % 997))
        for i in range(N)
    ]
    evaluation, paths = evaluate(
        tmp_path, samples, records, {"metrics": [{"type": "exact_match"}]}, formats=("html",)
    )
    assert evaluation.report.to_json_dict()["metrics"]["exact_match"]["scored"] == N
    with open_page(paths["html"]) as page:
        assert page.text_content("#count") == f"showing {N} of {N}"
        rows = page.evaluate("document.querySelectorAll('.row:not(.head)').length")
        assert 0 < rows <= 100
        assert page.evaluate("document.querySelectorAll('*').length") < 3000

        page.evaluate(
            "() => { const v = document.getElementById('viewport'); v.scrollTop = v.scrollHeight; }"
        )
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#rows .row')).some(r => r.dataset.id === 's099999')"
        )
        assert page.evaluate("document.querySelectorAll('.row:not(.head)').length") <= 100

        page.fill("#search", "s099999")
        page.wait_for_function(
            f"() => document.getElementById('count').textContent === 'showing 1 of {N}'"
        )
        assert visible_ids(page) == ["s099999"]
        page.click("#rows .row[data-id='s099999']")
        assert "question 99999" in page.text_content("#conversation")
        assert page.console_errors == []
