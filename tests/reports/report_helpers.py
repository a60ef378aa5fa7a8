"""Helpers for the report tests: write a dataset + results, evaluate, open in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson

from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.common.schemas import Score
from chatbot_tester.evaluator.metrics import Metric, MetricInput, metric_registry
from chatbot_tester.orchestrator.result import StageEvaluation
from chatbot_tester.orchestrator.stages import EvaluateJob, evaluate_job

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class VotesMetric(Metric):
    """A judge-like test metric: passes when the answer contains 'Paris', with 3 votes."""

    description = "test double with judge votes"

    async def score(self, item: MetricInput) -> Score:
        if item.output is None:
            return self.make(item, error="no answer: test")
        ok = "paris" in item.output.lower()
        votes: list[dict[str, Any]] = [
            {
                "score": 5 if ok else 1,
                "reason": f"vote {i} on {item.record.sample_id}",
                "error": None,
            }
            for i in range(2)
        ]
        votes.append({"score": None, "reason": None, "error": "unparseable verdict"})
        return self.make(
            item,
            1.0 if ok else 0.0,
            ok,
            reason=f"judge says {'yes' if ok else 'no'}",
            details={"votes": votes, "agreement": 0.67, "unstable": not ok},
        )


if "h8_votes" not in metric_registry:
    metric_registry.register("h8_votes", VotesMetric)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def evaluate(
    tmp: Path,
    samples: list[dict[str, Any]],
    records: list[dict[str, Any]],
    config: dict[str, Any],
    *,
    formats: tuple[str, ...] = ("json", "html", "junit", "md"),
    resume: bool = False,
) -> tuple[StageEvaluation, dict[str, Path]]:
    """Evaluate through the pipeline's stage function; the decision reads the gates only."""
    job = EvaluateJob(
        dataset=write_jsonl(tmp / "dataset.jsonl", samples),
        results=write_jsonl(tmp / "results.jsonl", records),
        out_dir=tmp / "out",
        evaluator=EvaluatorConfig.model_validate(config),
        max_error_rate=None,
        base_dir=tmp,
        pipeline_name="demo",
        run_id="r1",
        resume=resume,
        formats=formats,
        step_summary=False,
    )
    outcome = anyio.run(lambda: evaluate_job(job))
    return outcome, outcome.reports


def record(sample_id: str, text: str | None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sample_id": sample_id, "backend": "scripted"}
    if text is None:
        base["error"] = {"kind": "timeout", "message": "no answer in 1s"}
    else:
        base["response"] = {"text": text}
    base.update(extra)
    return base


@contextmanager
def open_page(html: Path) -> Iterator[Any]:
    """A Chromium page on ``file://html`` that records dialogs, console errors and CSP violations."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.dialogs = []  # type: ignore[attr-defined]
            page.console_errors = []  # type: ignore[attr-defined]
            page.requests = []  # type: ignore[attr-defined]

            def on_dialog(dialog: Any) -> None:
                page.dialogs.append(dialog.message)  # type: ignore[attr-defined]
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on(
                "console",
                lambda m: page.console_errors.append(m.text) if m.type == "error" else None,  # type: ignore[attr-defined]
            )
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))  # type: ignore[attr-defined]
            page.on("request", lambda r: page.requests.append(r.url))  # type: ignore[attr-defined]
            page.add_init_script(
                "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation', function (e) {"
                " window.__violations.push(e.violatedDirective + ' ' + e.blockedURI); });"
            )
            page.goto(html.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            yield page
        finally:
            browser.close()


def visible_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#rows .row", "rows => rows.map(r => r.getAttribute('data-id'))"
    )
