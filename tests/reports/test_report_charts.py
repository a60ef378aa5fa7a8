"""report.html's charts in headless Chromium, on a real quickstart run: labelled axes, pass rate
by tag as bars, one latency chart (a CDF), and no histogram for pass/fail-only metrics."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
from report_helpers import open_page

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart"


def test_charts_read_at_a_glance(tmp_path: Path) -> None:
    shutil.copytree(QUICKSTART, tmp_path / "qs")
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "run", "pipeline.yaml", "-q"],
        cwd=tmp_path / "qs", capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1])
    report = orjson.loads((run / "report.json").read_bytes())
    with open_page(run / "report.html") as page:
        page.wait_for_selector("#charts figure")
        captions = page.locator("#charts figcaption").all_text_contents()
        # one chart of latency only: the `latency` metric restates the records' latencies
        assert sum("latency" in c for c in captions) == 1, captions
        assert any(c.startswith("latency CDF") for c in captions)
        assert page.locator("#charts figure.cdf polyline.line").count() == 1
        # pass/fail-only metrics (exact_match) get no histogram; graded ones (token_f1) do
        assert not any("exact_match" in c and "distribution" in c for c in captions)
        first_rated = next(
            k for k, m in report["metrics"].items() if m.get("pass_rate") is not None
        )
        bars = page.locator("#charts figure.bars rect.bar")
        assert bars.count() == sum(1 for t in report["tags"].values() if first_rated in t)
        assert f"pass rate of {first_rated} by tag" in captions
        for fig in page.locator("#charts figure").all():
            texts = fig.locator("svg text").all_text_contents()
            assert len(texts) >= 4, texts  # tick labels on the axes, not just min and max
        histograms = page.locator("#charts figure.histogram")
        if histograms.count():
            assert "samples" in histograms.first.locator("svg text").all_text_contents()
        assert page.text_content("#status-line .badge") == (
            "PASSED" if report["passed"] else "FAILED"
        )
