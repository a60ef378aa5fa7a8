"""Scenario samples: a scripted simulated user talks with a scripted bot until its goal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.common.schemas import RunRecord, TestSample
from chatbot_tester.runner import run_job

BOT = {
    "rules": [
        {"contains": "order 1234", "reply": "Done: the refund for order 1234 is on its way."},
        {"contains": "refund", "reply": "Sure, what is your order number?"},
        {"contains": "bye", "reply": "Goodbye, have a nice day!"},
    ],
    "default": "I don't know.",
}
USER = {
    "rules": [
        {"contains": "is on its way", "reply": "Great, thanks! [GOAL MET]"},
        {"contains": "order number", "reply": "It is order 1234."},
        {"contains": "I don't know", "reply": "Hmm, can you try again?"},
        {"match": "conversation starts", "reply": "Hi, I want a refund for my boots."},
    ],
    "default": "ok bye",
}


def runner(**extra: Any) -> RunnerConfig:
    values: dict[str, Any] = {
        "backend": "scripted",
        "options": BOT,
        "simulated_user": {"backend": "scripted", "options": USER},
    }
    values.update(extra)
    return RunnerConfig.model_validate(values)


SCENARIOS = [
    {"id": "refund", "scenario": {"goal": "get a refund for order 1234", "facts": ["order 1234"]}},
    {
        "id": "stuck",
        "scenario": {
            "goal": "learn the opening hours",
            "opening": "When do you open?",
            "max_turns": 3,
        },
    },
    {
        "id": "bye",
        "scenario": {"goal": "say goodbye", "opening": "bye", "stop_phrases": ["goodbye"]},
    },
]


async def test_conversations_end_on_goal_turn_limit_or_stop_phrase(tmp_path: Path) -> None:
    samples = [TestSample.model_validate(s) for s in SCENARIOS]
    out = tmp_path / "results.jsonl"
    await run_job(samples, runner(), out)
    records = {
        r.sample_id: r
        for r in (RunRecord.model_validate_json(line) for line in out.read_text().splitlines())
    }
    refund = records["refund"]
    assert refund.conversation is not None and refund.conversation.model_dump() == {
        "stop_reason": "goal", "turns": 2, "turns_to_goal": 2
    }  # fmt: skip
    assert [(t.user, t.response.text if t.response else None) for t in refund.turns or []] == [
        ("Hi, I want a refund for my boots.", "Sure, what is your order number?"),
        ("It is order 1234.", "Done: the refund for order 1234 is on its way."),
    ]
    assert refund.response is not None and refund.response.text.startswith("Done")
    stuck = records["stuck"]
    assert stuck.conversation is not None and stuck.conversation.stop_reason == "max_turns"
    assert [t.user for t in stuck.turns or []] == [
        "When do you open?",
        "Hmm, can you try again?",
        "Hmm, can you try again?",
    ]
    bye = records["bye"]
    assert bye.conversation is not None and (
        bye.conversation.stop_reason,
        bye.conversation.turns,
    ) == ("stop_phrase", 1)


async def test_a_scenario_without_a_simulated_user_is_a_config_error_record(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    await run_job([TestSample.model_validate(SCENARIOS[0])], runner(simulated_user=None), out)
    record = RunRecord.model_validate_json(out.read_text())
    assert record.error is not None and "set runner.simulated_user" in record.error.message


def test_run_scores_goal_reached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chatbot_tester.cli.main import main

    (tmp_path / "data.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SCENARIOS))
    config = {
        "name": "scenarios",
        "workspace": "./ws",
        "generator": {"source": "data.jsonl"},
        "runner": runner().model_dump(exclude_defaults=True),
        "evaluator": {
            "metrics": [
                {"type": "goal_reached"},
                {"type": "goal_reached", "name": "fast_goal", "max_turns": 1},
            ]
        },
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    with contextlib.suppress(SystemExit):
        main(["run", str(tmp_path / "pipeline.yaml")])
    out, err = capsys.readouterr()
    report = json.loads((Path(out.strip().splitlines()[-1]) / "report.json").read_text())
    goal = report["metrics"]["goal_reached"]
    assert (goal["passed"], goal["failed"]) == (1, 2), err
    assert report["metrics"]["fast_goal"]["passed"] == 0


RUNNER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from chatbot_tester.common.config import RunnerConfig
from chatbot_tester.runner import run_job

cfg = RunnerConfig.model_validate_json(Path(sys.argv[1]).read_text())
asyncio.run(run_job(Path(sys.argv[2]), cfg, Path(sys.argv[3]), resume=True))
"""


@pytest.mark.slow
async def test_sigkill_mid_conversation_then_resume_records_each_once(tmp_path: Path) -> None:
    n = 16
    dataset = tmp_path / "dataset.jsonl"
    rows = [{"id": f"s{i}", "scenario": {"goal": "get a refund for order 1234"}} for i in range(n)]
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    slow_bot = {**BOT, "latency_ms": 40}
    cfg = runner(options=slow_bot, concurrency=2)
    (tmp_path / "runner.json").write_text(cfg.model_dump_json())
    (tmp_path / "run_it.py").write_text(RUNNER_SCRIPT)
    out = tmp_path / "results.jsonl"
    argv = [
        sys.executable,
        str(tmp_path / "run_it.py"),
        str(tmp_path / "runner.json"),
        str(dataset),
        str(out),
    ]
    rng = random.Random(3)
    kills = 0
    for _ in range(3):
        proc = await asyncio.create_subprocess_exec(*argv)
        start = out.read_bytes().count(b"\n") if out.exists() else 0
        for _ in range(3000):
            if proc.returncode is not None or (
                out.exists() and out.read_bytes().count(b"\n") > start
            ):
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(rng.uniform(0.02, 0.06))  # mid-conversation: a turn takes 40 ms
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        await proc.wait()
    proc = await asyncio.create_subprocess_exec(*argv)
    assert await proc.wait() == 0
    assert kills >= 1
    records = [
        RunRecord.model_validate_json(line) for line in out.read_text().splitlines() if line.strip()
    ]
    assert sorted(r.sample_id for r in records) == sorted(f"s{i}" for i in range(n))  # once each
    assert all(
        r.conversation is not None
        and r.conversation.stop_reason == "goal"
        and len(r.turns or []) == 2
        for r in records
    )


def test_goal_judge_reads_the_whole_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chatbot_tester.cli.main import main

    (tmp_path / "data.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SCENARIOS))
    judge = {
        "backend": "scripted",
        "options": {
            # only a judge that sees the middle of the conversation (the order number) passes it
            "rules": [
                {
                    "match": r"Goal: get a refund[\s\S]*It is order 1234\.",
                    "reply": '{"score": 5, "reason": "refunded"}',
                }
            ],
            "default": '{"score": 1, "reason": "goal not achieved"}',
        },
    }
    config = {
        "name": "scenarios",
        "workspace": "./ws",
        "generator": {"source": "data.jsonl"},
        "runner": runner().model_dump(exclude_defaults=True),
        "evaluator": {"judge": judge, "metrics": [{"type": "goal_judge"}]},
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    with contextlib.suppress(SystemExit):
        main(["run", str(tmp_path / "pipeline.yaml")])
    out, err = capsys.readouterr()
    run_dir = Path(out.strip().splitlines()[-1])
    scores = {
        s["sample_id"]: s
        for s in map(json.loads, (run_dir / "scores.jsonl").read_text().splitlines())
    }
    assert scores["refund"]["passed"] is True, err
    assert scores["stuck"]["passed"] is False and scores["bye"]["passed"] is False
