"""``generate`` and ``run`` with generator.documents through the CLI; bad input is one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from doc_kit import UNGROUNDED_A, documents_config, write_docs
from test_generator_doc_readers import pdf_bytes

from chatbot_tester.cli.main import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def pipeline(folder: Path, **documents: Any) -> Path:
    write_docs(folder)
    config = {
        "name": "docs_pipeline",
        "workspace": "./ws",
        "generator": {"documents": documents_config(**documents)},
        "runner": {"backend": "echo"},
        "evaluator": {"metrics": [{"type": "token_f1"}]},
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_generate_reports_drops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grounded.jsonl"
    code, stdout, stderr = run_cli(["generate", str(pipeline(tmp_path)), "-o", str(out)], capsys)
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    assert (
        "documents: 3 of 5 samples kept (1 ungrounded, 1 near-duplicate, 0 failed dropped); "
        "see grounded.documents.json"
    ) in stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["doc-0001", "doc-0002", "doc-0003"]
    report = json.loads((tmp_path / "grounded.documents.json").read_text())
    assert [d["answer"] for d in report["ungrounded"]] == [UNGROUNDED_A]
    assert len(report["duplicates"]) == 1
    # a second generate replays the cached calls: the same bytes
    again = tmp_path / "again.jsonl"
    assert run_cli(["generate", str(tmp_path / "pipeline.yaml"), "-o", str(again)], capsys)[0] == 0
    assert again.read_bytes() == out.read_bytes()


def test_run_scores_the_generated_set_per_question_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mix = {"factual": 2, "unanswerable": 1, "conversational": 1}
    code, stdout, stderr = run_cli(["run", str(pipeline(tmp_path, count=8, mix=mix))], capsys)
    assert code in (0, 1), stderr
    run_dir = Path(stdout.strip().splitlines()[-1])
    dataset = [json.loads(line) for line in (run_dir / "dataset.jsonl").read_text().splitlines()]
    assert {t for s in dataset for t in s["tags"]} == {
        "qtype:factual",
        "qtype:unanswerable",
        "qtype:conversational",
    }
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report["tags"]) == {"qtype:factual", "qtype:unanswerable", "qtype:conversational"}
    # the echo bot never refuses: every unanswerable sample fails its refusal assertion
    unanswerable = report["tags"]["qtype:unanswerable"]
    assert unanswerable["assert:refusal"]["pass_rate"] == 0.0
    assert unanswerable["assert:refusal"]["scored"] == 2
    assert all(block["token_f1"]["errors"] == 0 for block in report["tags"].values())
    assert "document generation:" in stderr and "see " in stderr
    generation = json.loads((run_dir / "manifest.json").read_text())["dataset"]["generation"]
    assert generation["step"] == "documents" and generation["report"].endswith(".documents.json")
    assert generation["produced"] == len(dataset) and generation["requested"] == 8
    assert (run_dir.parents[1] / "datasets" / generation["report"]).is_file()
    # a second run reuses the dataset and says again what was dropped
    _, _, again = run_cli(["run", str(tmp_path / "pipeline.yaml")], capsys)
    assert generation["ungrounded"] + generation["duplicates"] == 8 - len(dataset) >= 1
    assert "the reused dataset dropped" in again


def test_dry_run_estimates_the_generation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chatbot_tester.orchestrator import plan_pipeline

    path = pipeline(tmp_path, count=6, grounding="judge")
    plan = plan_pipeline(path)
    stages = {s.stage: s for s in plan.stages}
    gen, judge = stages["generate (documents)"], stages["generate (grounding judge)"]
    assert (gen.calls, judge.calls) == (6, 6) and gen.prompt_tokens > 6 * 40
    assert gen.completion_tokens == 6 * 80 and plan.samples == 6
    code, stdout, _ = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0 and "generate (documents)" in stdout
    assert not (tmp_path / "ws").exists()


def _bad(folder: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    docs = {"files": ["docs/*.md"]}
    if case == "missing":
        docs = {"files": ["docs/nope.md"]}
        needle = "generator.documents.files: docs/nope.md: file not found"
    elif case == "glob":
        docs = {"files": ["manuals/**/*.md"]}
        needle = "manuals/**/*.md: the pattern matches no document"
    elif case == "empty":
        docs = {"files": ["docs/*.md", "blank.txt"]}
        (folder / "blank.txt").write_text("\n\n")
        needle = "blank.txt: the document has no text"
    elif case == "bad_pdf":
        docs = {"files": ["broken.pdf"]}
        (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a pdf")
        needle = "broken.pdf: cannot read the PDF"
    else:
        docs = {"files": ["manual.pdf"]}
        (folder / "manual.pdf").write_bytes(pdf_bytes("Hello"))
        monkeypatch.setitem(sys.modules, "pypdf", None)
        needle = "manual.pdf: reading PDF documents needs pypdf: pip install 'chatbot-tester[pdf]'"
    return pipeline(folder, **docs), needle


@pytest.mark.parametrize("command", ["generate", "run"])
@pytest.mark.parametrize("case", ["missing", "glob", "empty", "bad_pdf", "no_extra"])
def test_bad_documents_are_one_line_exit_2_nothing_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    case: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    path, needle = _bad(tmp_path, case, monkeypatch)
    args = [command, str(path)] + (
        ["-o", str(tmp_path / "out.jsonl")] if command == "generate" else []
    )
    code, _, stderr = run_cli(args, capsys)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert needle in lines[0] and "Traceback" not in stderr
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "ws").exists()


@pytest.mark.parametrize(
    ("documents", "needle"),
    [
        ({"personas": ["nurse"]}, "generator.documents.personas.0"),
        ({"personas": [{"name": "nurse"}]}, "generator.documents.personas.0"),
        ({"mix": {"trivia": 1}}, "generator.documents.mix"),
    ],
)
def test_bad_documents_config_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], documents: dict[str, Any], needle: str
) -> None:
    path = pipeline(tmp_path, **documents)
    code, _, stderr = run_cli(["generate", str(path), "-o", str(tmp_path / "o.jsonl")], capsys)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0], stderr
    assert str(path) in lines[0] and not (tmp_path / "o.jsonl").exists()


def test_the_documents_example_runs_offline_to_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    examples = Path(__file__).resolve().parents[2] / "examples"
    shutil.copytree(
        examples / "documents",
        tmp_path / "documents",
        ignore=shutil.ignore_patterns("workspace", "__pycache__"),
    )
    (tmp_path / "quickstart").mkdir()
    shutil.copy(examples / "quickstart" / "kb.yaml", tmp_path / "quickstart" / "kb.yaml")
    args = [
        "run",
        str(tmp_path / "documents" / "pipeline.yaml"),
        "--workspace",
        str(tmp_path / "ws"),
    ]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    run_dir = Path(stdout.strip().splitlines()[-1])
    report = json.loads((run_dir / "report.json").read_text())
    qtypes = {t for t in report["tags"] if t.startswith("qtype:")}
    assert qtypes == {
        f"qtype:{t}"
        for t in (
            "factual",
            "multi_hop",
            "comparison",
            "conditional",
            "unanswerable",
            "conversational",
        )
    }
    assert {t for t in report["tags"] if t.startswith("persona:")} == {
        "persona:first-time customer",
        "persona:returning member",
    }
    assert (run_dir / "report.html").is_file() and list(
        (tmp_path / "ws" / "datasets").glob("*.documents.json")
    )


def test_dry_run_prices_synthetic_generation(tmp_path: Path) -> None:
    from chatbot_tester.orchestrator import plan_pipeline

    config = {
        "name": "syn",
        "workspace": str(tmp_path / "ws"),
        "generator": {
            "synthetic": {
                "backend": "echo",
                "model": "gpt-4o-mini",
                "instructions": "Store FAQ questions.",
                "count": 25,
                "batch_size": 10,
            }
        },
        "runner": {"backend": "echo"},
        "evaluator": {"metrics": [{"type": "exact_match"}]},
    }
    plan = plan_pipeline(config)
    gen = next(s for s in plan.stages if s.stage == "generate")
    assert (gen.calls, gen.completion_tokens) == (3, 25 * 80) and gen.prompt_tokens > 3 * 40
    assert gen.cost_usd is not None and gen.cost_usd > 0
