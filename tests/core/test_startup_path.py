"""What a plain `run` loads and does at exit: the fixed cost every run pays (issue #11)."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot_tester.cli.main import main
from chatbot_tester.testing.server import FaultServer

NOT_NEEDED = ("numpy", "jmespath", "filelock", "html", "jinja2", "aiohttp")
"""Modules the bench pipeline (http backend, exact_match, json report) has no use for."""


def _pipeline(tmp_path: Path, url: str, n: int) -> Path:
    data = tmp_path / "data.jsonl"
    data.write_text(
        "".join(
            f'{{"id":"s{i}","input":"question {i}","expected":"echo: question {i}"}}\n'
            for i in range(n)
        )
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"name: startup\nworkspace: {tmp_path / 'ws'}\ngenerator:\n  source: {data}\n"
        f"runner:\n  backend: http\n  model: bench\n  options:\n"
        f"    url: {url}/v1/chat/completions\n"
        "evaluator:\n  metrics:\n    - type: exact_match\n"
        "  report:\n    formats: [json]\n"
    )
    return path


def _run_and_list(pipeline: Path, names: tuple[str, ...]) -> list[str]:
    """Run ``pipeline`` through the CLI in a fresh process; the ``names`` it had imported."""
    code = (
        "import atexit, sys\n"
        f"names = {names!r}\n"
        "atexit.register(lambda: print('loaded', [n for n in names if n in sys.modules]))\n"
        "from chatbot_tester.cli.main import entry\n"
        f"sys.argv = ['chatbot-tester', 'run', {str(pipeline)!r}]\n"
        "entry()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("loaded"))
    return list(ast.literal_eval(line.removeprefix("loaded ")))


@pytest.mark.parametrize("n", [1, 50])
def test_the_bench_pipeline_loads_none_of_what_it_does_not_use(
    tmp_path: Path, fault_server_thread: FaultServer, n: int
) -> None:
    pipeline = _pipeline(tmp_path, fault_server_thread.url, n)
    assert _run_and_list(pipeline, NOT_NEEDED) == []
    report = next((tmp_path / "ws" / "runs").glob("*/report.json")).read_text()
    assert '"pass_rate": 1.0' in report


def test_fewer_young_collections_only_for_the_console_script() -> None:
    """``entry()`` (the console script) raises the youngest generation's threshold; a caller
    of ``main(argv)`` (tests, embedding code) keeps its collector as it was."""
    before = gc.get_threshold()
    main(["--version"])
    assert gc.get_threshold() == before
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('young', gc.get_threshold()[0]))\n"
        "from chatbot_tester.cli.main import entry\n"
        "sys.argv = ['chatbot-tester', '--version']\n"
        "entry()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "young 10000" in out.stdout


def test_models_use_python_default_factories_for_lists() -> None:
    """``Field(default_factory=list)`` makes pydantic tokenize ``list``'s text signature (the
    first such field compiles ``tokenize``'s regexes, ~1% of a run): use ``empty_list``."""
    src = Path(__file__).resolve().parents[2] / "src" / "chatbot_tester"
    offenders = [
        f"{path.relative_to(src)}:{n}"
        for path in src.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "Field(default_factory=list" in line
    ]
    assert offenders == []
