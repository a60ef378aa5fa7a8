"""`chatbot-tester evaluate RUN` re-scores a run without calling the chatbot again."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_helpers import run_cli


def _project(root: Path) -> Path:
    root.mkdir()
    rows = [{"id": f"s{i}", "input": f"q {i}", "expected": f"echo: q {i}"} for i in range(6)]
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "checks.py").write_text(
        "def short_answer(sample, record):\n    return len(record.response.text) < 12\n"
    )
    (root / "pipeline.yaml").write_text(
        "name: rescore\nworkspace: ./ws\ngenerator: {source: data.jsonl}\n"
        "runner: {backend: echo, options: {prefix: 'echo: '}}\n"
        "evaluator:\n  metrics:\n    - {type: exact_match}\n"
        "    - {type: python, function: 'checks.py:short_answer', name: short}\n"
    )
    return root


def test_rescore_from_another_directory_uses_the_runs_base_dir(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    first = run_cli("run", "pipeline.yaml", cwd=project)
    assert first.code == 0, first.stderr
    run_dir = Path(first.last_line)
    requests_before = (run_dir / "results.jsonl").read_bytes()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = run_cli("evaluate", str(run_dir), cwd=elsewhere)
    assert again.code == 0, again.stderr
    assert (run_dir / "results.jsonl").read_bytes() == requests_before
    report = json.loads((Path(again.last_line) / "report.json").read_text())
    assert report["metrics"]["short"]["scored"] == 6
    assert report["metrics"]["short"]["errors"] == 0


def test_rescore_with_a_changed_metric_writes_a_new_evaluation(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    first = run_cli("run", "pipeline.yaml", cwd=project)
    assert first.code == 0, first.stderr
    run_dir = Path(first.last_line)
    original = (run_dir / "report.json").read_bytes()
    changed = project / "changed.yaml"
    changed.write_text(
        (project / "pipeline.yaml")
        .read_text()
        .replace("- {type: exact_match}", "- {type: contains, value: 'nope'}")
    )
    res = run_cli("evaluate", str(run_dir), "--config", "changed.yaml", cwd=project)
    assert res.code == 0, res.stderr
    out = Path(res.last_line)
    assert out.parent.name == "evaluations" and out.parent.parent == run_dir
    assert json.loads((out / "report.json").read_text())["metrics"]["contains"]["pass_rate"] == 0.0
    assert (run_dir / "report.json").read_bytes() == original
