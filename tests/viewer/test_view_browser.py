"""The viewer's pages in headless Chromium (Playwright), against a real server and real runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
        assert "exact_match.pass_rate >= 0.5" in page.text_content("#gates li.fail")
        assert page.locator("#tags-table tbody tr").count() >= 2  # even/odd and payload tags
        assert page.locator("#timings tbody tr").count() >= 1
        assert "tokens" in page.text_content("#spend")
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


BASE, CAND, EM = "base " + XSS[2], "cand " + XSS[0], "em " + XSS[1]
PIPELINE = "vs " + XSS[0]


def _group_ids(ws: Path) -> tuple[str, str, str]:
    """(group id, baseline run id, candidate run id) of the only variant set in ``ws``."""
    group = next((ws / "groups").iterdir())
    data = json.loads((group / "compare.json").read_text("utf-8"))
    return group.name, data["baseline"]["run_id"], data["variants"][0]["run_id"]


def test_a_variant_set_from_the_runs_list_shows_verdicts_and_flips(
    variant_server: str, variant_set: Path
) -> None:
    gid, base_run, cand_run = _group_ids(variant_set)
    with browser_page(variant_server) as page:
        page.wait_for_selector("table#groups-table a.group-link")
        assert page.locator("table#groups-table tbody tr").count() == 1
        page.wait_for_selector("table#runs a.variant-link")
        assert page.locator("table#runs a.variant-link").count() == 2
        page.click("a.group-link")
        page.wait_for_selector("#group-metrics tbody tr")
        assert gid in page.text_content("h1")
        assert page.text_content("#group-verdict") == f"regressed against {BASE}: {CAND}"
        rows = page.locator("#group-metrics tbody tr")
        assert rows.count() == 3  # three metrics, one non-baseline variant
        em = rows.filter(has_text=EM)
        cells = [em.locator("td").nth(i).text_content() for i in range(8)]
        assert cells[0] == CAND and cells[2] == "91.7%" and cells[3] == "0.0%"
        assert cells[4] == "-91.7 pp" and float(cells[5]) < 0.05 and cells[7] == "regression"
        assert (
            rows.filter(has_text="not_contains").locator("td").nth(7).text_content() == "no change"
        )
        flips = page.locator("table.flipped-group tbody tr")
        assert flips.count() == 11
        assert flips.first.locator(".baseline-answer").text_content().startswith("echo: question")
        assert flips.first.locator(".variant-answer").text_content().startswith("nope: question")
        _shot(page, "group")
        em.locator("a").click()  # the pair's own compare page
        page.wait_for_selector("#compare-metrics tbody tr")
        assert base_run in page.text_content("h1") and cand_run in page.text_content("h1")


def test_payloads_in_every_field_stay_text_on_every_page(
    variant_server: str, variant_set: Path
) -> None:
    """Pipeline name, description, variant and metric names, reasons, errors, ids, tags."""
    _, base_run, cand_run = _group_ids(variant_set)
    boom = "v11" + XSS[11 % len(XSS)]
    with browser_page(variant_server) as page:  # on exit: no dialog, no CSP violation
        page.wait_for_selector("table#runs tbody tr")
        page.wait_for_selector("table#groups-table tbody tr")
        text = page.text_content("main")
        assert PIPELINE in text and BASE in text and CAND in text

        page.goto(variant_server + f"#/run/{cand_run}")
        page.wait_for_selector("#samples tbody tr")
        assert page.text_content("#run-description") == "about " + XSS[1]
        assert PIPELINE in page.text_content("h1")
        assert EM in page.text_content("#metrics") and "rx " + XSS[3] in page.text_content(
            "#metrics"
        )
        samples = page.text_content("#samples")
        assert all(x in samples for x in XSS)  # ids, questions, answers
        page.wait_for_selector("#charts figure.bars rect.bar")  # pass rate by (sample) tag
        titles = " ".join(page.locator("#charts figure.bars title").all_text_contents())
        assert all(f"t{x}: " in titles for x in XSS)  # run tags are validated; sample tags not
        assert "error: internal" in samples  # the bot's error (its message: on the sample page)
        page.click("#run-group")
        page.wait_for_selector("#group-metrics tbody tr")
        group = page.text_content("main")
        assert all(x in group for x in (PIPELINE[3:], BASE, CAND, EM, "rx " + XSS[3]))

        page.goto(variant_server + f"#/run/{cand_run}/sample/{quote(boom, safe='')}/0")
        page.wait_for_selector("#error")
        assert ("bot crashed " + " ".join(XSS)) in page.text_content("#error")
        page.goto(variant_server + f"#/run/{cand_run}/sample/{quote('v00' + XSS[0], safe='')}/0")
        page.wait_for_selector("#scores tbody tr")
        scores = page.text_content("#scores")
        assert f"matched '{XSS[0]}'" in scores and f"found '{XSS[0]}'" in scores  # reasons
        assert EM in scores and "Sample v00" + XSS[0] in page.text_content("h1")

        page.goto(variant_server + f"#/compare/{base_run}/{cand_run}")
        page.wait_for_selector("#flipped tbody tr")
        assert EM in page.text_content("#compare-metrics")
        assert all(x in page.text_content("#flipped") for x in XSS)

        page.goto(variant_server + f"#/trends/{quote(PIPELINE, safe='')}")
        page.wait_for_selector("#trends figure svg")
        assert PIPELINE in page.text_content("h1")
        assert EM in page.text_content("#trends")
