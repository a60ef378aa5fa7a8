"""The everyday CLI loop: select samples, re-run failures, retry errors, quiet/JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import run_cli

CSV = (
    "id,question,expected_answer,category\n"
    "q1,one,one,math\n"
    "q2,two,two,math\n"
    "q3,three,three,words\n"
    "q4,four,four,words\n"
    "q5,five,five,misc\n"
)

# q2 is answered wrong; q3 raises while the file `flaky` exists beside the bot.
BOT = """
from pathlib import Path

def bot(prompt: str) -> str:
    if prompt == "three" and (Path(__file__).parent / "flaky").exists():
        raise RuntimeError("backend down")
    return "wrong" if prompt == "two" else prompt
"""

PIPELINE = """name: loop
workspace: ./ws
generator:
  source: raw.csv
  columns: {id: id, input: question, expected: expected_answer, tags: category}
runner:
  backend: python
  options: {function: "bot:bot"}
  retries: 0
  max_error_rate: 1.0
evaluator:
  metrics: [{type: exact_match}]
  thresholds: ["exact_match.pass_rate >= 1.0"]
  report: {formats: [json]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "raw.csv").write_text(CSV)
    (tmp_path / "bot.py").write_text(BOT)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return tmp_path


def _manifest(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "manifest.json").read_text())


def _sent(run_dir: str) -> list[str]:
    lines = (Path(run_dir) / "results.jsonl").read_text().splitlines()
    return sorted(json.loads(line)["sample_id"] for line in lines)


def test_limit_sample_and_tags_narrow_the_run(project: Path) -> None:
    res = run_cli("run", "pipeline.yaml", "--limit", "2", "--json", cwd=project)
    summary = json.loads(res.stdout)
    assert _sent(summary["run_dir"]) == ["q1", "q2"]
    assert summary["samples"] == 2 and summary["passed"] is False
    assert _manifest(summary["run_dir"])["selection"] == {"limit": 2}

    res = run_cli("run", "pipeline.yaml", "--sample", "q4", "--sample", "q1", cwd=project)
    assert res.code == 0, res.stderr
    assert _sent(res.last_line) == ["q1", "q4"]
    assert "PASS: all gates passed (2 samples, 0 errors)" in res.stderr

    res = run_cli(
        "run", "pipeline.yaml", "--tags", "math,misc", "--exclude-tags", "misc", cwd=project
    )
    assert _sent(res.last_line) == ["q1", "q2"]
    assert res.code == 1 and "FAIL: gate failed: exact_match.pass_rate >= 1.0" in res.stderr

    bad = run_cli("run", "pipeline.yaml", "--sample", "q9", cwd=project)
    assert bad.code == 2 and "error: --sample q9: no such sample" in bad.stderr
    none = run_cli("run", "pipeline.yaml", "--tags", "nothing", cwd=project)
    assert none.code == 2 and "keeps no sample" in none.stderr


def test_filter_failing_then_retry_errors_link_their_runs(project: Path) -> None:
    (project / "flaky").write_text("")
    first = run_cli("run", "pipeline.yaml", "--quiet", cwd=project)
    assert first.code == 1
    assert "FAIL:" in first.stderr and "exact_match:" not in first.stderr  # quiet: no summary
    first_id = Path(first.last_line).name

    failing = run_cli("run", "pipeline.yaml", "--filter-failing", first_id, cwd=project)
    assert _sent(failing.last_line) == ["q2", "q3"]  # a wrong answer and an error
    assert _manifest(failing.last_line)["selection"]["from_run"] == first_id

    (project / "flaky").unlink()
    retry = run_cli("run", "pipeline.yaml", "--retry-errors", first_id, "--json", cwd=project)
    summary = json.loads(retry.stdout)
    assert _sent(summary["run_dir"]) == ["q3"]
    assert summary["errors"] == 0 and summary["passed"] is True and retry.code == 0
    assert _manifest(summary["run_dir"])["selection"] == {
        "retry_errors": first_id,
        "from_run": first_id,
    }

    unknown = run_cli("run", "pipeline.yaml", "--retry-errors", "nope", cwd=project)
    assert unknown.code == 2 and "no run 'nope'" in unknown.stderr


def test_workspace_option_and_old_alias(project: Path) -> None:
    for flag in ("--workspace", "--workspace-dir"):
        res = run_cli("run", "pipeline.yaml", "--limit", "1", flag, f"elsewhere{flag}", cwd=project)
        assert res.code == 0, res.stderr
        assert (project / res.last_line).parent.parent == project / f"elsewhere{flag}"


def test_did_you_mean_backends_name_and_cache_clear(project: Path) -> None:
    typo = run_cli("rnu", "pipeline.yaml", cwd=project)
    assert typo.code == 2 and "did you mean 'run'?" in typo.stderr
    one = run_cli("backends", "http", "--json", cwd=project)
    assert [row["name"] for row in json.loads(one.stdout)] == ["http"]
    assert "url" in run_cli("backends", "http", cwd=project).stdout
    bad = run_cli("backends", "opneai", cwd=project)
    assert bad.code == 2 and "did you mean 'openai'?" in bad.stderr

    cache = project / "ws" / "cache"
    cache.mkdir(parents=True)
    (cache / "responses.sqlite").write_bytes(b"x" * 10)
    (project / "ws" / "runs").mkdir()
    info = run_cli("cache", "info", "--pipeline", "pipeline.yaml", cwd=project)
    assert "responses.sqlite" in info.stdout
    cleared = run_cli("cache", "clear", "--workspace", "ws", cwd=project)
    assert cleared.code == 0 and "cleared 1 files (10 bytes)" in cleared.stderr
    assert not cache.exists() and (project / "ws" / "runs").is_dir()


TRACER = """
from pathlib import Path

def make(name="pipeline"):
    out = Path(__file__).parent / f"events-{name}.txt"
    def subscriber(event):
        with out.open("a") as fh:
            fh.write(type(event).__name__ + " " + str(getattr(event, "item_id", "")) + "\\n")
    return subscriber

def make_cli():
    return make("cli")
"""


def test_subscribers_from_the_pipeline_and_the_cli(project: Path) -> None:
    (project / "tracer.py").write_text(TRACER)
    text = (project / "pipeline.yaml").read_text()
    (project / "pipeline.yaml").write_text(text + 'subscribers: ["tracer:make"]\n')
    res = run_cli(
        "run", "pipeline.yaml", "--subscriber", "tracer:make_cli", "--limit", "2", cwd=project
    )
    assert res.code == 1, res.stderr
    for name in ("pipeline", "cli"):
        lines = (project / f"events-{name}.txt").read_text().splitlines()
        assert lines[0].startswith("RunStarted") and lines[-1].startswith("RunFinished")
        assert "ItemFinished q1" in lines and "ItemFinished q2" in lines
    bad = run_cli("run", "pipeline.yaml", "--subscriber", "tracer:nope", cwd=project)
    assert bad.code == 2 and "--subscriber[0]: loading 'tracer:nope' failed" in bad.stderr
