"""The viewer's pages in headless Chromium (Playwright), against a real server and real runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from view_helpers import XSS, run_ids, view_server, write_pipeline

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = os.environ.get("CT_VIEW_SCREENSHOTS")  # a folder: save each page as PNG (for the README)


@contextmanager
def browser_page(url: str) -> Iterator[Any]:
    """A page that records dialogs, console errors and CSP violations; checked on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            dialogs: list[str] = []
            errors: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script(
                "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation', function (e) {"
                " window.__violations.push(e.violatedDirective + ' ' + e.blockedURI); });"
            )
            page.goto(url)
            yield page
            assert dialogs == [], dialogs  # no payload ever ran
            assert errors == [], errors
            assert page.evaluate("window.__violations") == []
            assert page.evaluate("window.__pwned === undefined")
        finally:
            browser.close()


def until(page: Any, script: str, timeout: float = 20.0) -> None:
    """Poll ``script`` (an expression) until it is truthy; the page's CSP forbids eval-based waits."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(
        f"(() => {{ try {{ return {script}; }} catch (e) {{ return false; }} }})()"
    ):
        assert time.monotonic() < deadline, f"timed out waiting for {script}"
        time.sleep(0.1)


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"view-{name}.png"), full_page=True)


def test_runs_list_run_page_and_sample_drill_down(server: str, history: Path) -> None:
    ids = run_ids(history)
    with browser_page(server) as page:
        page.wait_for_selector("table#runs tbody tr")
        assert page.locator("table#runs tbody tr").count() == len(ids) == 6
        _shot(page, "runs")
        page.fill("#run-search", ids[2][-6:])
        until(page, "document.querySelectorAll('table#runs tbody tr').length === 1")
        page.fill("#run-search", "")
        until(page, "document.querySelectorAll('table#runs tbody tr').length === 6")

        page.click(f"a.run-link >> text={ids[-1]}")  # the regressed run
        page.wait_for_selector("#metrics")
        assert page.text_content("#verdict-badge") == "FAILED"
        page.wait_for_selector("#samples tbody tr")
        page.wait_for_selector("#charts figure.cdf svg polyline")
        assert page.locator("#charts figure.bars rect.bar").count() >= 2  # pass rate by tag
        text = page.text_content("#samples")
        assert XSS[0] in text and XSS[1] in text  # shown as text
        page.select_option("#sample-status", "fail")
        until(page, "(document.querySelector('#sample-count') || {}).textContent === '1–12 of 12'")
        _shot(page, "run")

        page.locator("#samples tbody tr").first.click()
        page.wait_for_selector("#scores tbody tr")
        assert page.locator("#scores tbody tr").count() == 2
        conversation = page.text_content("#conversation")
        assert "question 0 " + XSS[0] in conversation and "nope: question 0" in conversation
        assert page.locator("#diff ins").count() >= 1 and page.locator("#diff del").count() >= 1
        _shot(page, "sample")

        page.goto(server + f"#/run/{ids[0]}")
        page.wait_for_selector("#verdict-badge")
        assert page.text_content("#verdict-badge") == "PASSED"


def test_compare_two_runs_from_the_list(server: str, history: Path) -> None:
    ids = run_ids(history)
    with browser_page(server) as page:
        page.wait_for_selector("table#runs tbody tr")
        page.check(f"input.pick[data-run='{ids[0]}']")
        page.check(f"input.pick[data-run='{ids[-1]}']")
        page.click("#compare-selected")
        page.wait_for_selector("#flipped tbody tr")
        assert "regression" in page.text_content("#verdict")
        assert page.locator("#compare-metrics tbody tr").count() == 2
        row = page.locator("#flipped tbody tr").first
        assert row.locator(".baseline-answer").text_content().startswith("echo: ")
        assert row.locator(".candidate-answer").text_content().startswith("nope: ")
        page.wait_for_selector("figure.cdf polyline.s1")  # both latency distributions drawn
        _shot(page, "compare")


def test_trends_over_runs_open_a_run_on_click(server: str, history: Path) -> None:
    ids = run_ids(history)
    with browser_page(server + "#/trends/shop") as page:
        page.wait_for_selector("#trends figure svg circle.dot")
        first_chart = page.locator("#trends figure").first
        assert first_chart.locator("circle.dot").count() == 6
        assert first_chart.locator("circle.dot.failed").count() == 1
        assert first_chart.locator("polygon.band").count() == 1  # the CI band
        _shot(page, "trends")
        first_chart.locator(f"circle.dot[data-run='{ids[3]}']").click()
        page.wait_for_selector("#metrics")
        assert ids[3] in page.text_content("h1")


def test_a_run_started_elsewhere_appears_and_updates_live(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, name="live", latency_ms=200, n=60)
    (tmp_path / "ws" / "runs").mkdir(parents=True)
    with view_server(tmp_path / "ws") as url, browser_page(url) as page:
        page.wait_for_selector("text=no runs in this workspace yet")
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot_tester", "run", str(pipeline), "-q"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            page.wait_for_selector("table#runs .badge.running", timeout=20_000)
            page.click("a.run-link")
            page.wait_for_selector("#live-progress")
            until(
                page,
                "/run: [1-9][0-9]* \\/ 60/.test(document.querySelector('#live-progress').textContent)",
            )
            first = page.text_content("#live-progress")
            done = int(re.search(r"(\d+) / 60", first).group(1))  # type: ignore[union-attr]
            until(
                page,
                f"+/(\\d+) \\/ 60/.exec(document.querySelector('#live-progress').textContent)[1] > {done}",
            )
            later = page.text_content("#live-progress")
            eta = int(re.search(r"ETA (\d+) s", later).group(1))  # type: ignore[union-attr]
            assert 1 <= eta <= 30, later  # from the events' own times: ~0.2 s per pair of samples
            _shot(page, "live")
            until(
                page,
                "document.querySelector('#live-progress').textContent.startsWith('finished')",
                60,
            )
        finally:
            assert proc.wait(timeout=60) in (0, 1), proc.stderr.read() if proc.stderr else ""
            if proc.stderr:
                proc.stderr.close()
