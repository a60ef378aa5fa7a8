"""Without Ray installed, ``runner.executor: ray`` is one line with the install hint (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from runner_test_helpers import samples, write_dataset
from test_runner_cli_execute import pipeline, run_cli


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed


@pytest.mark.usefixtures("no_ray")
@pytest.mark.parametrize("command", ["execute", "run"])
def test_ray_executor_without_ray_is_one_line_exit_2(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pipe = pipeline(tmp_path, "http://127.0.0.1:9/v1", "  executor: ray")
    dataset = write_dataset(tmp_path / "dataset.jsonl", samples(3))
    out = tmp_path / "out" / "results.jsonl"
    if command == "execute":
        args = ["execute", str(pipe), "--dataset", str(dataset), "-o", str(out)]
    else:
        args = ["run", str(pipe), "--workspace", str(tmp_path / "ws")]
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "runner.executor" in err[0] and "pip install 'chatbot-tester[ray]'" in err[0]
    assert "Traceback" not in err[0]
    assert not out.exists()
    assert not any((tmp_path / "ws").rglob("results.jsonl"))
