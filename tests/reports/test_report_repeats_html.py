"""report.html shows the flaky samples and flip rate of runs with repeats (rendered in Chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_helpers import evaluate, open_page, record

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no chromium")


def test_metrics_table_has_a_flaky_column_with_repeats(tmp_path: Path) -> None:
    samples = [{"id": f"s{i}", "input": "q", "expected": "x"} for i in range(4)]
    # s0 and s1 answer right then wrong (flaky), s2 and s3 always right
    records = [
        record(f"s{i}", "x" if (k == 0 or i >= 2) else "y", repeat=k)
        for i in range(4)
        for k in range(2)
    ]
    ev, paths = evaluate(tmp_path, samples, records, {"metrics": [{"type": "exact_match"}]})
    assert ev.report.to_json_dict()["metrics"]["exact_match"]["flaky"] == 2
    with open_page(paths["html"]) as page:
        heads = page.eval_on_selector_all("#metrics-table th", "t => t.map(x => x.textContent)")
        assert heads[-1] == "flaky (flip rate)"
        cells = page.eval_on_selector_all("#metrics-table td", "t => t.map(x => x.textContent)")
        assert cells[-1] == "2 (50.0%)"
        assert "2 repeats per sample" in page.text_content("#summary")


def test_no_flaky_column_without_repeats(tmp_path: Path) -> None:
    samples = [{"id": "a", "input": "q", "expected": "x"}]
    _, paths = evaluate(
        tmp_path, samples, [record("a", "x")], {"metrics": [{"type": "exact_match"}]}
    )
    with open_page(paths["html"]) as page:
        heads = page.eval_on_selector_all("#metrics-table th", "t => t.map(x => x.textContent)")
        assert "flaky (flip rate)" not in heads
