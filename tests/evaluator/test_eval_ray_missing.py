"""``evaluator.executor: ray`` without Ray installed, and a killed driver's part files (no Ray needed)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import orjson
import pytest
from eval_helpers import rec, write_jsonl

from chatbot_tester.cli.main import main
from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.evaluator import evaluate_run
from chatbot_tester.evaluator.metrics.base import MetricContext
from chatbot_tester.evaluator.ray_scoring import SCORE_SHARDS_DIR

PIPELINE = """\
name: ray_missing
workspace: ./ws
generator:
  source: data.jsonl
runner:
  backend: echo
evaluator:
  metrics:
    - type: exact_match
  executor: ray
"""


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed


def run_cli(args: list[str]) -> int:
    try:
        result = main(args)
    except SystemExit as exc:
        return int(exc.code) if exc.code is not None else 0
    return int(result or 0)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "evaluator.executor" in lines[0] and "pip install 'chatbot-tester[ray]'" in lines[0]
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.usefixtures("no_ray")
def test_run_without_ray_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    write_jsonl(tmp_path / "data.jsonl", [{"id": "s0", "input": "q", "expected": "q"}])
    assert (
        run_cli(["run", str(tmp_path / "pipeline.yaml"), "--workspace", str(tmp_path / "ws")]) == 2
    )
    _one_line(capsys.readouterr().err)
    assert not any((tmp_path / "ws").rglob("results.jsonl"))


@pytest.mark.usefixtures("no_ray")
def test_evaluate_run_without_ray_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "ws" / "runs" / "20261124T000000000Z-abcdef"
    run.mkdir(parents=True)
    (run / "pipeline.yaml").write_text(PIPELINE)
    manifest = {"run_id": run.name, "pipeline": "ray_missing", "status": "completed"}
    (run / "manifest.json").write_bytes(orjson.dumps(manifest))
    write_jsonl(run / "dataset.jsonl", [{"id": "s0", "input": "q0", "expected": "a0"}])
    write_jsonl(run / "results.jsonl", [rec("s0", "a0")])
    assert run_cli(["evaluate", str(run)]) == 2
    _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in run.iterdir()) == [
        "dataset.jsonl",
        "manifest.json",
        "pipeline.yaml",
        "results.jsonl",
    ]


@pytest.mark.usefixtures("no_ray")
async def test_part_files_of_a_killed_driver_are_reused_on_resume(tmp_path: Path) -> None:
    dataset, results = tmp_path / "dataset.jsonl", tmp_path / "results.jsonl"
    write_jsonl(dataset, [{"id": f"s{i}", "input": "q", "expected": f"a{i}"} for i in range(6)])
    write_jsonl(results, [rec(f"s{i}", f"a{i}" if i % 2 else "no") for i in range(6)])
    local = EvaluatorConfig.model_validate({"metrics": [{"type": "exact_match"}]})
    first = await evaluate_run(dataset, results, local, tmp_path / "a", context=MetricContext())
    # a driver killed mid-evaluation leaves its workers' part files (a torn last line too)
    out = tmp_path / "b"
    parts = out / SCORE_SHARDS_DIR
    parts.mkdir(parents=True)
    lines = (tmp_path / "a" / "scores.jsonl").read_bytes().splitlines(keepends=True)
    (parts / "part-0-0.jsonl").write_bytes(b"".join(lines[:4]) + lines[4][:20])
    (parts / "part-1-0.jsonl").write_bytes(lines[4] + lines[5])
    shutil.copy(tmp_path / "a" / "scores.jsonl", tmp_path / "expected.jsonl")
    ray = local.model_copy(update={"executor": "ray"})
    again = await evaluate_run(dataset, results, ray, out, context=MetricContext())
    # every score came from the part files: no cluster was needed (Ray is not even importable)
    assert again.scored_now == 0 and again.skipped == 6
    assert again.summary["metrics"] == first.summary["metrics"]
    assert sorted((out / "scores.jsonl").read_bytes().splitlines()) == sorted(
        (tmp_path / "expected.jsonl").read_bytes().splitlines()
    )
    assert not any(parts.iterdir())


def test_evaluator_ray_settings_fall_back_to_the_runners() -> None:
    from chatbot_tester.common.config import RayConfig, RunnerConfig

    mine = RayConfig(num_workers=3)
    runner_ray = RunnerConfig(backend="echo", executor="ray", ray=RayConfig(shard_size=7))
    runner_local = RunnerConfig(backend="echo", ray=RayConfig(shard_size=7))
    ev = EvaluatorConfig(executor="ray")
    assert ev.with_ray_from(runner_ray).ray == RayConfig(shard_size=7)
    assert ev.with_ray_from(runner_local).ray == RayConfig()
    assert EvaluatorConfig(executor="ray", ray=mine).with_ray_from(runner_ray).ray == mine
    assert EvaluatorConfig().with_ray_from(runner_ray).ray is None  # local: untouched
