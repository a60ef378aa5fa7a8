"""Bad input: exit 2, one clear line naming the place, no traceback, no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import run_cli

GOOD_CSV = "id,question,expected_answer\nq1,Where is my order?,Track it online.\nq2,Hi,Hello!\n"


def _pipeline(
    extra_runner: str = "", metrics: str = "[{type: exact_match}]", source: str = "raw.csv"
) -> str:
    return f"""name: bad_input_case
workspace: ./ws
generator:
  source: {source}
  columns: {{id: id, input: question, expected: expected_answer}}
runner:
  backend: echo{extra_runner}
evaluator:
  metrics: {metrics}
"""


CASES = {
    "malformed_yaml": (
        {"pipeline.yaml": "name: [unclosed\nrunner: {", "raw.csv": GOOD_CSV},
        "pipeline.yaml:",
    ),
    "unknown_key": (
        {"pipeline.yaml": _pipeline("\n  concurency: 4"), "raw.csv": GOOD_CSV},
        "concurrency",
    ),
    "wrong_type": (
        {"pipeline.yaml": _pipeline("\n  concurrency: lots"), "raw.csv": GOOD_CSV},
        "concurrency",
    ),
    "missing_csv_column": (
        {"pipeline.yaml": _pipeline(), "raw.csv": "id,prompt,expected_answer\nq1,Hi,Hello\n"},
        "raw.csv",
    ),
    "non_utf8_csv": (
        {"pipeline.yaml": _pipeline(), "raw.csv": b"id,question,expected_answer\nq1,caf\xe9,x\n"},
        "raw.csv",
    ),
    "empty_dataset": (
        {"pipeline.yaml": _pipeline(), "raw.csv": "id,question,expected_answer\n"},
        "raw.csv",
    ),
    "duplicate_ids": (
        {"pipeline.yaml": _pipeline(), "raw.csv": GOOD_CSV + "q1,Again?,Yes.\n"},
        "q1",
    ),
    "unknown_backend": (
        {
            "pipeline.yaml": _pipeline().replace("backend: echo", "backend: ecoh"),
            "raw.csv": GOOD_CSV,
        },
        "echo",
    ),
    "unknown_metric": (
        {"pipeline.yaml": _pipeline(metrics="[{type: exact_mach}]"), "raw.csv": GOOD_CSV},
        "exact_match",
    ),
    "unknown_metric_option": (
        {"pipeline.yaml": _pipeline(metrics="[{type: regex, patern: x}]"), "raw.csv": GOOD_CSV},
        "pattern",
    ),
    "missing_source_file": (
        {"pipeline.yaml": _pipeline(source="nope.csv")},
        "nope.csv",
    ),
    "missing_knowledge_base": (
        {
            "pipeline.yaml": _pipeline().replace(
                "backend: echo", "backend: demo\n  options: {knowledge_base: nowhere.yaml}"
            ),
            "raw.csv": GOOD_CSV,
        },
        "nowhere.yaml",
    ),
    "unimportable_python_bot": (
        {
            "pipeline.yaml": _pipeline().replace(
                "backend: echo", "backend: python\n  options: {function: 'no_such_mod:bot'}"
            ),
            "raw.csv": GOOD_CSV,
        },
        "no_such_mod",
    ),
    "judge_metric_without_judge": (
        {
            "pipeline.yaml": _pipeline(metrics="[{type: llm_judge, rubric: be right}]"),
            "raw.csv": GOOD_CSV,
        },
        "evaluator.judge",
    ),
    "gate_on_unknown_metric": (
        {
            "pipeline.yaml": _pipeline() + "  thresholds: ['exact_mach.pass_rate >= 0.5']\n",
            "raw.csv": GOOD_CSV,
        },
        "exact_match",
    ),
    "budget_without_price": (
        {
            "pipeline.yaml": _pipeline("\n  model: mystery-1\n  max_cost_usd: 1"),
            "raw.csv": GOOD_CSV,
        },
        "runner.prices",
    ),
    "baseline_run_missing": (
        {
            "pipeline.yaml": _pipeline() + "  baseline: 20200101T000000000Z-abcdef\n",
            "raw.csv": GOOD_CSV,
        },
        "baseline",
    ),
    "bad_assertion_in_dataset": (
        {
            "pipeline.yaml": _pipeline(source="data.jsonl").replace(
                "  columns: {id: id, input: question, expected: expected_answer}\n", ""
            ),
            "data.jsonl": '{"id": "a1", "input": "hi", "assertions": [{"type": "contains", "vaule": "x"}]}\n',
        },
        "value",
    ),
    "terminal_escape_in_id": (
        {
            "pipeline.yaml": _pipeline(),
            "raw.csv": GOOD_CSV + "q1\x1b[2J,Again?,Yes.\n" + "q1\x1b[2J,Again?,Yes.\n",
        },
        "raw.csv",
    ),
    "bad_base_url": (
        {
            "pipeline.yaml": _pipeline().replace(
                "backend: echo", "backend: openai\n  options: {base_url: 'ftp//bad', api_key: x}"
            ),
            "raw.csv": GOOD_CSV,
        },
        "base_url",
    ),
    "duplicate_yaml_key": (
        {"pipeline.yaml": _pipeline() + "name: again\n", "raw.csv": GOOD_CSV},
        "name",
    ),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_line(tmp_path: Path, case: str, dry_run: bool) -> None:
    files, hint = CASES[case]
    for name, content in files.items():
        target = tmp_path / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    res = run_cli("run", "pipeline.yaml", *(["--dry-run"] if dry_run else []), cwd=tmp_path)
    assert res.code == 2, (res.code, res.stderr)
    assert "\x1b" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.stderr
    assert hint in lines[0], lines[0]
    assert res.stdout == ""
    assert not (tmp_path / "ws" / "runs").exists() or not any((tmp_path / "ws" / "runs").iterdir())


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(_pipeline(metrics="[{type: exact_mach}]"))
    (tmp_path / "raw.csv").write_text(GOOD_CSV)
    res = run_cli("run", "pipeline.yaml", "--debug", cwd=tmp_path)
    assert res.code != 0
    assert "Traceback" in res.stderr


def test_missing_pipeline_file(tmp_path: Path) -> None:
    res = run_cli("run", "absent.yaml", cwd=tmp_path)
    assert res.code == 2
    assert "absent.yaml" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
