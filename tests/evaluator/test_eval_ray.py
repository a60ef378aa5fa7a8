"""``evaluator.executor: ray`` on a real local Ray cluster bound to 127.0.0.1: same scores, once.

One cluster (2 CPUs, no dashboard: the ``ray_address`` fixture) serves the module; the judge
is the openai backend against the loopback FaultServer (a deterministic grader), so every
judge call is real HTTP from a Ray worker process.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatbot_tester.common.config import EvaluatorConfig, JudgeConfig
from chatbot_tester.common.events import EventBus, ItemFinished, Notice
from chatbot_tester.common.schemas import ChatResponse, ErrorInfo, RunRecord, TestSample
from chatbot_tester.errors import ErrorKind
from chatbot_tester.evaluator import Evaluation, evaluate_run
from chatbot_tester.evaluator.metrics.base import MetricContext
from chatbot_tester.evaluator.ray_scoring import COORDINATOR_PREFIX, SCORE_SHARDS_DIR
from chatbot_tester.testing.server import FaultServer
from chatbot_tester.testing.server_payloads import message_text
from ray_helpers import kill_worker_mid_shard, run_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def grader(messages: list[dict[str, Any]]) -> str:
    """A deterministic judge: 5 when the answer block names Paris, else 2."""
    prompt = "\n".join(message_text(m) for m in messages)
    answer = prompt.rpartition("answer>>>")[2] if "answer>>>" in prompt else prompt
    good = "paris" in answer.lower()
    return orjson.dumps({"score": 5 if good else 2, "reason": "ok" if good else "no"}).decode()


def write_run(run: Path, n: int) -> tuple[Path, Path]:
    """n samples (every 5th with an assertion), 2 repeats each, every 7th record an error."""
    run.mkdir(parents=True, exist_ok=True)
    dataset, results = run / "dataset.jsonl", run / "results.jsonl"
    with dataset.open("w") as d, results.open("w") as r:
        for i in range(n):
            sample: dict[str, Any] = {"id": f"s{i}", "input": f"Capital {i}?", "expected": "Paris"}
            if i % 5 == 0:
                sample["assertions"] = [{"type": "contains", "value": "Paris"}]
            if i % 3 == 0:
                sample["tags"] = ["geo"]
            d.write(TestSample.model_validate(sample).model_dump_json() + "\n")
            for repeat in range(2):
                if (2 * i + repeat) % 7 == 3:
                    err = ErrorInfo(kind=ErrorKind.TIMEOUT, message="slow")
                    rec = RunRecord(sample_id=f"s{i}", repeat=repeat, backend="b", error=err)
                else:
                    text = "It is Paris." if (i + repeat) % 3 else f"Lyon {i}."
                    rec = RunRecord(
                        sample_id=f"s{i}",
                        repeat=repeat,
                        backend="b",
                        response=ChatResponse(text=text),
                        latency_ms=float(10 + i % 13),
                    )
                r.write(rec.model_dump_json() + "\n")
    return dataset, results


def evaluator(executor: str, *, judge_concurrency: int = 3, **ray: Any) -> EvaluatorConfig:
    return EvaluatorConfig.model_validate(
        {
            "metrics": [
                {"type": "llm_judge", "name": "judge"},
                {"type": "exact_match"},
                {"type": "contains", "name": "has_paris", "value": "Paris"},
            ],
            "thresholds": ["judge.pass_rate >= 0.1"],
            "report": {"formats": ["json"]},
            "executor": executor,
            "ray": {"num_workers": 2, "shard_size": 40, **ray} if executor == "ray" else None,
        }
    )


def context(server: FaultServer, concurrency: int = 3) -> MetricContext:
    judge = JudgeConfig(
        backend="openai",
        model="judge-model",
        options={"base_url": server.base_url, "api_key": "sk-judge"},
        concurrency=concurrency,
        retries=2,
    )
    return MetricContext(judge=judge, cache=False)


def score_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def keyed(lines: list[dict[str, Any]]) -> Counter[tuple[str, int, str, Any]]:
    return Counter((x["sample_id"], x["repeat"], x["metric"], x["turn"]) for x in lines)


def comparable(evaluation: Evaluation) -> dict[str, Any]:
    summary = dict(evaluation.summary)
    summary.pop("generated_at", None)
    return summary


def test_ray_scores_equal_local_scores(ray_address: str, tmp_path: Path) -> None:
    with FaultServer(responder=grader, latency_ms=5).run_in_thread() as server:
        dataset, results = write_run(tmp_path / "run", 100)
        local = asyncio.run(
            evaluate_run(
                dataset, results, evaluator("local"), tmp_path / "local", context=context(server)
            )
        )
        local_requests = server.stats.requests
        bus = EventBus()
        finished: list[str] = []
        bus.subscribe(lambda e: finished.append(e.item_id) if isinstance(e, ItemFinished) else None)
        distributed = asyncio.run(
            evaluate_run(
                dataset,
                results,
                evaluator("ray"),
                tmp_path / "ray",
                context=context(server),
                bus=bus,
            )
        )
        ray_requests = server.stats.requests - local_requests
        peak = server.stats.max_in_flight
    local_lines = score_lines(tmp_path / "local" / "scores.jsonl")
    ray_lines = score_lines(tmp_path / "ray" / "scores.jsonl")
    # same lines, modulo order; each (sample, repeat, metric, turn) once
    assert sorted(orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in ray_lines) == sorted(
        orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in local_lines
    )
    assert set(keyed(ray_lines).values()) == {1}
    assert len(ray_lines) == 200 * 3 + 40  # 3 metrics per record, + 20 samples' assertion x 2
    assert comparable(distributed) == comparable(local)
    assert distributed.passed == local.passed
    assert distributed.scored_now == local.scored_now == len(ray_lines)
    # each judge call made once; the judge's concurrency is the evaluation's, not per worker
    assert ray_requests == local_requests
    assert peak <= 3
    spend = distributed.report.judge_spend
    assert spend is not None and spend.calls == ray_requests
    # one progress event per record reached the driver's bus
    items = {x["sample_id"] + (f"#{x['repeat']}" if x["repeat"] else "") for x in ray_lines}
    assert sorted(finished) == sorted(items)
    assert not any((tmp_path / "ray" / SCORE_SHARDS_DIR).glob("*"))
    # resumed: everything is on file, nothing is scored again (and no judge is called)
    with FaultServer(responder=grader).run_in_thread() as server:
        again = asyncio.run(
            evaluate_run(
                dataset, results, evaluator("ray"), tmp_path / "ray", context=context(server)
            )
        )
        assert server.stats.requests == 0
    assert again.scored_now == 0 and again.skipped == len(ray_lines)
    assert comparable(again)["metrics"] == comparable(local)["metrics"]


def test_killing_a_worker_mid_shard_loses_and_duplicates_no_score(
    ray_address: str, tmp_path: Path
) -> None:
    dataset, results = write_run(tmp_path / "run", 150)  # 300 records
    out = tmp_path / "out"
    bus = EventBus()
    notices: list[str] = []
    bus.subscribe(lambda e: notices.append(e.message) if isinstance(e, Notice) else None)
    with FaultServer(responder=grader, latency_ms=40).run_in_thread() as server:
        config = evaluator("ray", shard_size=150)
        thread, got = run_in_thread(
            evaluate_run(dataset, results, config, out, context=context(server, 4), bus=bus)
        )
        token = kill_worker_mid_shard(
            COORDINATOR_PREFIX, out / SCORE_SHARDS_DIR, min_bytes=20_000, deadline_s=60
        )
        thread.join(timeout=240)
        judged = server.stats.requests
    [evaluation] = got
    assert isinstance(evaluation, Evaluation), evaluation
    lines = score_lines(out / "scores.jsonl")
    assert set(keyed(lines).values()) == {1}
    assert len(lines) == 300 * 3 + 60
    assert any("died" in m and f"shard {token.split('-')[0]}" in m for m in notices), notices
    # the judge calls of scores the killed worker wrote were kept, not made again
    answered = sum(1 for x in score_lines(results) if x.get("error") is None)
    assert answered <= judged < answered + 150
    m = evaluation.report.metrics["judge"]
    assert m.total == 300 and m.scored + m.errors == 300


PLUGIN = """
from chatbot_tester import register_metric


@register_metric("h_ray_short")
def short(sample, record):
    return len(record.response.text) < 100
"""


def test_pipeline_run_scores_on_ray(ray_address: str, tmp_path: Path) -> None:
    from chatbot_tester.cli.main import main

    samples = [{"id": f"s{i}", "input": f"q{i}", "expected": "Paris"} for i in range(30)]
    (tmp_path / "data.jsonl").write_text("".join(orjson.dumps(s).decode() + "\n" for s in samples))
    (tmp_path / "ray_plugin.py").write_text(PLUGIN)  # imported by the Ray workers too
    with FaultServer(responder=grader).run_in_thread() as server:
        (tmp_path / "pipeline.yaml").write_text(
            f"""
name: ray_eval
plugins: [ray_plugin.py]
generator:
  source: data.jsonl
runner:
  backend: echo
evaluator:
  metrics:
    - {{type: llm_judge, name: judge}}
    - {{type: exact_match}}
    - {{type: h_ray_short}}
  judge:
    backend: openai
    model: judge-model
    options: {{base_url: "{server.base_url}", api_key: sk-judge}}
  report: {{formats: [json]}}
  executor: ray
  ray: {{num_workers: 2, shard_size: 8}}
"""
        )
        try:
            code = main(
                ["run", str(tmp_path / "pipeline.yaml"), "--workspace", str(tmp_path / "ws")]
            )
        except SystemExit as exc:
            code = exc.code
        judged = server.stats.requests
    assert code in (0, None)
    [run] = (tmp_path / "ws" / "runs").iterdir()
    lines = score_lines(run / "scores.jsonl")
    assert len(lines) == 90 and set(keyed(lines).values()) == {1}
    assert all(x["passed"] for x in lines if x["metric"] == "h_ray_short")
    assert judged == 30
    report = orjson.loads((run / "report.json").read_bytes())
    assert report["metrics"]["judge"]["scored"] == 30
    assert not any((run / SCORE_SHARDS_DIR).glob("*"))
