"""A pipeline with ``variants``: one run per variant, one comparison, checked in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from e2e_helpers import run_cli

from chatbot_tester.common.artifacts.workspace import Workspace

XSS = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
N = 30


def _project(tmp_path: Path, prefixes: dict[str, str], *, baseline: str | None = None) -> Path:
    """A project whose echo-bot variants answer with their prefix; the expected prefix is 'ok: '."""
    with (tmp_path / "data.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(N):
            question = f"question {i}" if i else f"question 0 {XSS}"
            sample = {"id": f"q{i}", "input": question, "expected": f"ok: {question}"}
            fh.write(json.dumps(sample) + "\n")
    variants = [
        {
            "name": name,
            "options": {"prefix": prefix},
            **({"baseline": True} if name == baseline else {}),
        }
        for name, prefix in prefixes.items()
    ]
    config = {
        "name": "variants",
        "workspace": "./ws",
        "generator": {"source": "data.jsonl"},
        "runner": {"backend": "echo", "options": {"prefix": "ok: "}},
        "variants": variants,
        "evaluator": {"metrics": [{"type": "exact_match"}], "report": {"formats": ["json"]}},
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def _manifests(root: Path) -> dict[str, dict]:
    out = {}
    for run in Workspace(root / "ws").list_runs():
        manifest = json.loads(run.file("manifest.json").read_text())
        out[manifest["variant"]] = manifest
    return out


def test_three_variants_write_three_runs_and_one_comparison(tmp_path: Path) -> None:
    _project(tmp_path, {"base": "ok: ", "same": "ok: ", "worse": f"no {XSS}: "})
    result = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert result.code == 1, result.stderr
    manifests = _manifests(tmp_path)
    assert sorted(manifests) == ["base", "same", "worse"]
    assert len({m["group"] for m in manifests.values()}) == 1
    assert {m["status"] for m in manifests.values()} == {"completed"}
    assert manifests["worse"]["config"]["runner"]["options"]["prefix"].startswith("no ")
    assert "variants" not in manifests["worse"]["config"]
    group = manifests["base"]["group"]
    group_dir = tmp_path / "ws" / "groups" / group
    assert sorted(p.name for p in group_dir.iterdir()) == [
        "compare.html",
        "compare.json",
        "compare.md",
    ]
    assert result.last_line == str(group_dir / "compare.html")
    assert "worse:" in result.stderr and "regression in exact_match" in result.stderr
    assert "same:" in result.stderr and "no regression" in result.stderr
    data = json.loads((group_dir / "compare.json").read_text())
    assert data["baseline"]["name"] == "base"
    assert data["comparisons"]["same"]["metrics"][0]["verdict"] == "no_change"
    assert data["comparisons"]["worse"]["metrics"][0]["verdict"] == "regression"
    flips = data["flipped"]["worse"]
    assert len(flips) == N and {f["flip"] for f in flips} == {"pass_to_fail"}
    first = next(f for f in flips if f["sample_id"] == "q1")
    assert first["question"] == "question 1"
    assert first["baseline_answer"] == "ok: question 1"
    assert first["variant_answer"] == f"no {XSS}: question 1"
    assert data["flipped"]["same"] == []
    md = (group_dir / "compare.md").read_text()
    assert "Flipped samples: worse vs base" in md and "<script>" not in md


def test_equal_variants_exit_0_and_a_named_baseline(tmp_path: Path) -> None:
    _project(tmp_path, {"a": "ok: ", "b": "ok: ", "c": "ok: "}, baseline="b")
    result = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert result.code == 0, result.stderr
    data = json.loads(Path(result.last_line).with_name("compare.json").read_text())
    assert data["baseline"]["name"] == "b"
    assert [v["name"] for v in data["variants"]] == ["a", "c"]
    assert len(Workspace(tmp_path / "ws").list_runs()) == 3


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], "two variants are named 'a'"),
        ([{"name": "a"}, {"model": "x"}], "name"),
        ([{"name": "a", "baseline": True}, {"name": "b", "baseline": True}], "only one"),
        ([{"name": "a", "concurrency": 2}, {"name": "b"}], "concurrency"),
    ],
)
def test_bad_variants_are_one_line_exit_2(tmp_path: Path, variants: list, message: str) -> None:
    _project(tmp_path, {"a": "ok: ", "b": "ok: "})
    config = yaml.safe_load((tmp_path / "pipeline.yaml").read_text())
    config["variants"] = variants
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "pipeline.yaml" in lines[0], lines
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ws").exists()


def test_dry_run_plans_every_variant(tmp_path: Path) -> None:
    _project(tmp_path, {"a": "ok: ", "b": "x: ", "c": "y: "})
    result = run_cli("run", "pipeline.yaml", "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "variants: a, b, c" in result.stdout
    for name in ("a", "b", "c"):
        assert f"run [{name}]" in result.stdout
    assert not (tmp_path / "ws").exists()


def test_group_page_in_chromium_side_by_side_with_answers(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    _project(tmp_path, {"base": "ok: ", "same": "ok: ", "worse": f"no {XSS}: "})
    result = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert result.code == 1, result.stderr
    page_path = Path(result.last_line)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            messages: list[str] = []
            page.on("console", lambda m: messages.append(m.text))
            page.goto(page_path.as_uri())
            assert page.title() == "Variant comparison"  # no payload rewrote it
            head = page.locator("#metrics thead tr").first.inner_text()
            assert "base (baseline)" in head and "same" in head and "worse" in head
            row = page.locator("#metrics tbody tr").first.locator("td").all_inner_texts()
            # metric | base value | same: value, delta, p, verdict | worse: value, delta, p, verdict
            assert row[0] == "exact_match" and row[1] == "100%"
            assert row[2] == "100%" and row[5] == "no change"
            assert row[6] == "0%" and row[7].startswith("−100") and row[9] == "regression"
            worse = page.locator("section.flipped[data-variant='worse'] tr.flip")
            assert worse.count() == N
            q1 = worse.filter(has=page.locator("code", has_text=re.compile(r"^q1$")))
            assert q1.count() == 1
            assert q1.locator(".baseline-answer").inner_text() == "ok: question 1"
            assert q1.locator(".variant-answer").inner_text() == f"no {XSS}: question 1"
            assert page.locator("img").count() == 0 and page.locator("script").count() == 0
            same = page.locator("section.flipped[data-variant='same']").inner_text()
            assert "No sample flipped" in same
            assert not [m for m in messages if "Content Security Policy" in m]
        finally:
            browser.close()


def test_better_variant_is_not_a_regression_and_shows_fail_to_pass(tmp_path: Path) -> None:
    from chatbot_tester import run_pipeline
    from chatbot_tester.orchestrator.variants import VariantsResult

    _project(tmp_path, {"old": "bad: ", "new": "ok: "})
    result = run_pipeline(tmp_path / "pipeline.yaml")
    assert isinstance(result, VariantsResult)
    assert result.baseline == "old" and list(result.variants) == ["old", "new"]
    assert result.comparison.comparisons["new"].metrics[0].verdict == "improvement"
    flips = result.comparison.flipped["new"]
    assert {f.flip for f in flips} == {"fail_to_pass"} and len(flips) == N
    assert result.variants["new"].exit_code == 0 and result.exit_code == 0


def test_variant_snapshot_keeps_env_refs_and_single_runner_is_unchanged(tmp_path: Path) -> None:
    from chatbot_tester.common.config import PipelineConfig

    raw = {
        "name": "p",
        "generator": {"source": "data.jsonl"},
        "runner": {"backend": "echo", "options": {"prefix": "${PREFIX:-ok: }"}},
    }
    single = PipelineConfig.model_validate(raw)
    assert "variants" not in single.snapshot()
    grouped = PipelineConfig.model_validate(
        {**raw, "variants": [{"name": "a"}, {"name": "b", "options": {"prefix": "${OTHER}"}}]}
    )
    b = grouped.with_variant(grouped.variants[1])
    assert b.snapshot()["runner"] == {"backend": "echo", "options": {"prefix": "${OTHER}"}}
    assert b.variants == [] and "variants" not in b.snapshot()
    assert grouped.with_variant(grouped.variants[0]).runner == single.runner
    assert grouped.baseline_variant is grouped.variants[0]
