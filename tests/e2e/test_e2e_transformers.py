"""The ``transformers`` backend through the CLI, on a tiny random GPT-2 built in the test.

One pipeline streams and batches to a report with TTFT and usage; the usage is checked
against the tokenizer, seeded sampling against a second run, batching against the records.
Bad input (a missing folder, a missing extra, an absent GPU) is one line and exit 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from e2e_helpers import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends"))
from tiny_lm import CHAT_TEMPLATE, build_tiny_model, build_tokenizer

QUESTIONS = [
    "hello how can i help you today",
    "the store opens at nine",
    "we sell tents boots jackets",
    "free shipping over days",
    "order refund thanks",
    "yes no",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-gpt2")


def _project(tmp_path: Path, model: Path, runner_extra: str = "", options: str = "") -> Path:
    rows = "\n".join(f"q{i},{q}" for i, q in enumerate(QUESTIONS))
    (tmp_path / "questions.csv").write_text(f"id,question\n{rows}\n")
    (tmp_path / "pipeline.yaml").write_text(
        "name: local_model\nworkspace: ./ws\n"
        "generator:\n  source: questions.csv\n  columns: {id: id, input: question}\n"
        "runner:\n  backend: transformers\n  stream: true\n  concurrency: 6\n"
        f"{runner_extra}"
        "  options:\n"
        f"    path: {model}\n    max_new_tokens: 8\n    temperature: 0.9\n    seed: 7\n"
        "    max_batch_size: 3\n    batch_wait_ms: 200\n"
        f"{options}"
        "evaluator:\n  metrics: [{type: latency, max_ms: 60000}]\n"
        "  report: {formats: [json]}\n"
    )
    return tmp_path / "pipeline.yaml"


def _records(run_dir: Path) -> dict[str, dict]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return {r["sample_id"]: r for r in map(json.loads, lines)}


@pytest.mark.slow
def test_pipeline_streams_batches_and_counts_usage(tmp_path: Path, tiny_model: Path) -> None:
    _project(tmp_path, Path(os.path.relpath(tiny_model, tmp_path)))  # relative to the YAML
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    run_dir = Path(res.last_line)
    records = _records(run_dir)
    assert sorted(records) == [f"q{i}" for i in range(len(QUESTIONS))]

    tok = build_tokenizer(CHAT_TEMPLATE)
    for i, question in enumerate(QUESTIONS):
        rec = records[f"q{i}"]
        assert rec["error"] is None
        assert rec["local"] is True and rec["cost_usd"] == 0.0
        assert rec["ttft_ms"] is not None and 0 < rec["ttft_ms"] <= rec["latency_ms"]
        usage = rec["usage"]
        prompt = tok.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
        )
        assert usage["prompt_tokens"] == len(tok(prompt, add_special_tokens=False).input_ids)
        text = rec["response"]["text"]
        assert usage["completion_tokens"] == len(tok(text, add_special_tokens=False).input_ids)
        assert 0 < usage["completion_tokens"] <= 8 and usage["estimated"] is False

    # Six concurrent requests, at most three per generate call, each waiting 200 ms for company.
    calls = {r["response"]["raw"]["generate_call"] for r in records.values()}
    sizes = [r["response"]["raw"]["batch_size"] for r in records.values()]
    assert len(calls) < len(records) and max(sizes) > 1 and max(sizes) <= 3

    report = json.loads((run_dir / "report.json").read_text())
    assert report["ttft"]["count"] == len(QUESTIONS) and report["ttft"]["p50"] > 0
    prompt_total = sum(r["usage"]["prompt_tokens"] for r in records.values())
    assert report["tokens"]["prompt"] == prompt_total and report["tokens"]["estimated"] is False
    assert report["cost"] == {"total": 0.0, "known": len(QUESTIONS), "unknown": 0}

    # Seeded sampling: a second run (other batches, other timings) gives the same answers.
    again = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert again.code == 0, again.stderr
    second = _records(Path(again.last_line))
    assert {k: r["response"]["text"] for k, r in second.items()} == {
        k: r["response"]["text"] for k, r in records.items()
    }
    texts = {r["response"]["text"] for r in records.values()}
    assert len(texts) > 1  # sampled, not one fixed output


@pytest.mark.slow
def test_unseeded_sampling_differs(tmp_path: Path, tiny_model: Path) -> None:
    """Without a seed two runs differ (the seed is what makes them equal)."""
    yaml = _project(tmp_path, tiny_model)
    yaml.write_text(yaml.read_text().replace("    seed: 7\n", ""))
    runs = []
    for _ in range(2):
        res = run_cli("run", "pipeline.yaml", "-q", cwd=tmp_path)
        assert res.code == 0, res.stderr
        runs.append({k: r["response"]["text"] for k, r in _records(Path(res.last_line)).items()})
    assert runs[0] != runs[1]


def _one_line_exit_2(res) -> str:
    assert res.code == 2, (res.stdout, res.stderr)
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def test_missing_model_folder_is_one_line(tmp_path: Path) -> None:
    _project(tmp_path, tmp_path / "no-such-model")
    line = _one_line_exit_2(run_cli("run", "pipeline.yaml", cwd=tmp_path))
    assert "options.path" in line and "no-such-model" in line and "save_pretrained" in line
    assert not (tmp_path / "ws").exists() or not any((tmp_path / "ws").rglob("results.jsonl"))


def test_missing_extra_is_one_line(tmp_path: Path, tiny_model: Path) -> None:
    _project(tmp_path, tiny_model)
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['transformers'] = None\n")
    line = _one_line_exit_2(
        run_cli("run", "pipeline.yaml", cwd=tmp_path, env={"PYTHONPATH": str(blocker)})
    )
    assert "chatbot-tester[local]" in line


def test_absent_gpu_is_one_line(tmp_path: Path, tiny_model: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    _project(tmp_path, tiny_model, options="    device: cuda\n")
    line = _one_line_exit_2(run_cli("run", "pipeline.yaml", cwd=tmp_path))
    assert "options.device" in line and "cuda" in line and "cpu" in line


def test_dry_run_prices_a_local_model_at_zero_without_loading_it(
    tmp_path: Path, tiny_model: Path
) -> None:
    _project(tmp_path, tiny_model, runner_extra="  max_cost_usd: 0.01\n")
    res = run_cli("run", "pipeline.yaml", "--dry-run", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "estimated total cost: $0.0000" in res.stdout
    assert not (tmp_path / "ws").exists() or not any((tmp_path / "ws").rglob("results.jsonl"))
