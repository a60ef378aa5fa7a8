"""The live scoring path (``evaluator.live``) writes and counts exactly what the general path does.

Three kinds of proof: (1) scores.jsonl, report.json and the four report files of records fed
one by one while "the run" goes on equal, byte for byte, those of the same results scored
afterwards by ``evaluate_run`` (the general path, which never takes the live shortcuts);
(2) a small run whose scores.jsonl is written out here from first principles (fingerprints
hashed by hand, values from the metric definitions); (3) each shortcut the two paths share
(unvalidated Score and Message, fingerprints, record identity, token F1, the summary's
``add_to``) against the slow form it replaces.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import orjson
import pytest
from eval_helpers import write_jsonl

from chatbot_tester.common.config import EvaluatorConfig
from chatbot_tester.common.schemas import Message, RunRecord, Score, TestSample
from chatbot_tester.common.trusted import message
from chatbot_tester.evaluator.evaluate import Evaluation, EvaluationSession, evaluate_run
from chatbot_tester.evaluator.metrics import MetricContext, metric_registry
from chatbot_tester.evaluator.metrics.base import MetricInput
from chatbot_tester.evaluator.metrics.text import token_f1
from chatbot_tester.evaluator.resume import (
    FingerprintHead,
    record_identity,
    score_fingerprint,
    score_tail,
)
from chatbot_tester.evaluator.summary import Accumulator, add_to
from chatbot_tester.orchestrator.reports import ReportFiles

METRICS: list[dict[str, Any]] = [
    {"type": "exact_match"},
    {"type": "token_f1"},
    {"type": "contains", "value": "echo"},
    {"type": "refusal", "name": "handoff", "expect": "handoff", "only_tags": ["out_of_scope"]},
    {"type": "pii_leak"},
    {"type": "latency", "max_ms": 100},
]
FORMATS = ["json", "html", "junit", "md"]
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def _dataset(n: int) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    for i in range(n):
        sample: dict[str, Any] = {
            "id": f"s{i:03d}",
            "input": f"question {i} – ünïcode",
            "expected": [f"echo: question {i}", "other"] if i % 4 == 0 else f"echo: question {i}",
            "tags": (["out_of_scope"] if i % 6 == 0 else ["faq"]) + [f"g{i % 3}"],
        }
        if i % 9 == 5:  # per-sample assertions: the general path, inside the same session
            sample["assertions"] = [{"type": "contains", "value": "question"}]
        if i % 13 == 7:
            sample["turns"] = [{"user": "hi", "expected": "echo: hi"}, {"user": f"q{i}"}]
            del sample["input"], sample["expected"]
        samples.append(sample)
    return samples


def _records(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, sample in enumerate(samples):
        started = T0 + timedelta(seconds=i, microseconds=i * 7)
        rec: dict[str, Any] = {
            "sample_id": sample["id"],
            "backend": "scripted",
            "started_at": started.isoformat(),
            "finished_at": (started + timedelta(milliseconds=3 + i)).isoformat(),
        }
        if i % 11 == 3:
            rec["error"] = {"kind": "timeout", "message": "no answer in 1s"}
        elif "turns" in sample:
            rec["turns"] = [
                {"index": 0, "user": "hi", "response": {"text": "echo: hi"}, "latency_ms": 5.0},
                {"index": 1, "user": f"q{i}", "response": {"text": "ok"}, "latency_ms": 150.0},
            ]
            rec["response"] = {"text": "ok"}
            rec["latency_ms"] = 155.0
        else:
            texts = [
                f"echo: question {i}",
                f"Echo, the question {i}!",
                "Let me hand you over to a human agent.",
                f"mail me at person{i}@example.org",
                "ünïcode ✓ answer",
            ]
            rec["response"] = {"text": texts[i % len(texts)]}
            rec["latency_ms"] = 3.5 + i * 2.25
            rec["usage"] = {
                "prompt_tokens": 7,
                "completion_tokens": i % 5,
                "total_tokens": 7 + i % 5,
            }
            rec["cost_usd"] = 0.0001 * i
        out.append(rec)
    return out


def _write(tmp: Path, n: int) -> tuple[list[TestSample], list[RunRecord]]:
    samples = _dataset(n)
    records = _records(samples)
    write_jsonl(tmp / "dataset.jsonl", samples)
    write_jsonl(tmp / "results.jsonl", records)
    return (
        [TestSample.model_validate(s) for s in samples],
        [RunRecord.model_validate(r) for r in records],
    )


def _config() -> EvaluatorConfig:
    return EvaluatorConfig.model_validate(
        {"metrics": METRICS, "thresholds": ["exact_match.pass_rate >= 0.1"]}
    )


def _finish_reports(files: ReportFiles, evaluation: Evaluation) -> None:
    files.finish(evaluation.report)


def _fed(tmp: Path, out: Path, samples: list[TestSample], records: list[RunRecord]) -> Evaluation:
    """Every record fed as the runner writes it (the live path where it applies)."""

    async def main() -> Evaluation:
        with ReportFiles(out, FORMATS, step_summary=False) as files:
            session = EvaluationSession(
                tmp / "dataset.jsonl",
                tmp / "results.jsonl",
                _config(),
                out,
                context=MetricContext(workspace_dir=None, cache=False),
                resume=False,
                pipeline_name="p",
                run_id="r",
                on_row=files.add,
            ).open()
            by_id = {s.id: s for s in samples}
            for record in records:
                session.feed(by_id[record.sample_id], record)
            assert session._fast.count > 0  # the live path did score records
            evaluation = await session.finish()
            _finish_reports(files, evaluation)
        return evaluation

    return anyio.run(main)


def _afterwards(tmp: Path, out: Path) -> Evaluation:
    """The same results scored after the run by ``evaluate_run`` (no record fed)."""

    async def main() -> Evaluation:
        with ReportFiles(out, FORMATS, step_summary=False) as files:
            evaluation = await evaluate_run(
                tmp / "dataset.jsonl",
                tmp / "results.jsonl",
                _config(),
                out,
                context=MetricContext(workspace_dir=None, cache=False),
                resume=False,
                pipeline_name="p",
                run_id="r",
                on_row=files.add,
                concurrency=1,
            )
            _finish_reports(files, evaluation)
        return evaluation

    return anyio.run(main)


def _same_time(data: bytes, evaluation: Evaluation) -> bytes:
    return data.replace(evaluation.report.generated_at.encode(), b"<generated_at>")


def test_fed_records_give_the_bytes_of_the_general_path(tmp_path: Path) -> None:
    samples, records = _write(tmp_path, 80)
    live = _fed(tmp_path, tmp_path / "live", samples, records)
    late = _afterwards(tmp_path, tmp_path / "late")
    assert live.scored_now == late.scored_now > 6 * 60
    scores = (tmp_path / "live" / "scores.jsonl").read_bytes()
    assert scores == (tmp_path / "late" / "scores.jsonl").read_bytes()
    assert scores.count(b"\n") == live.scored_now
    assert live.report.metrics["handoff"].total == len(
        [s for s in samples if "out_of_scope" in s.tags]
    )
    for name in ("report.json", "report.html", "junit.xml", "report.md"):
        a = _same_time((tmp_path / "live" / name).read_bytes(), live)
        b = _same_time((tmp_path / "late" / name).read_bytes(), late)
        assert a == b, name


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_scores_of_fed_records_match_a_hand_computed_expectation(tmp_path: Path) -> None:
    """exact_match and latency on three records, every byte of scores.jsonl derived by hand."""
    samples = [
        {"id": "a", "input": "q1", "expected": "The Answer."},
        {"id": "b", "input": "q2", "expected": "yes"},
        {"id": "c", "input": "q3", "expected": "x"},
    ]
    when = ["2026-12-03T12:00:00+00:00", "2026-12-03T12:00:01.250000+00:00"]
    records = [
        {"sample_id": "a", "backend": "t", "response": {"text": "answer"}, "latency_ms": 12.5,
         "started_at": when[0], "finished_at": when[1]},
        {"sample_id": "b", "backend": "t", "response": {"text": "no"}, "latency_ms": 250.0,
         "started_at": when[0], "finished_at": when[1], "attempts": 2},
        {"sample_id": "c", "backend": "t", "error": {"kind": "timeout", "message": "slow"},
         "started_at": when[0], "finished_at": when[1]},
    ]  # fmt: skip
    write_jsonl(tmp_path / "dataset.jsonl", samples)
    write_jsonl(tmp_path / "results.jsonl", records)
    config = {"metrics": [{"type": "exact_match"}, {"type": "latency", "max_ms": 100}]}

    async def main() -> Evaluation:
        session = EvaluationSession(
            tmp_path / "dataset.jsonl",
            tmp_path / "results.jsonl",
            EvaluatorConfig.model_validate(config),
            tmp_path / "out",
            context=MetricContext(workspace_dir=None, cache=False),
            resume=False,
        ).open()
        for sample, record in zip(samples, records, strict=True):
            session.feed(TestSample.model_validate(sample), RunRecord.model_validate(record))
        return await session.finish()

    evaluation = anyio.run(main)

    def metric_fp(spec: dict[str, Any]) -> str:
        return _sha(orjson.dumps({"judge": None, "metric": spec}, option=orjson.OPT_SORT_KEYS))

    exact = metric_fp(
        {"label": "exact_match", "only_tags": None, "options": {}, "type": "exact_match"}
    )
    latency = metric_fp(
        {"label": "latency", "only_tags": None, "options": {"max_ms": 100}, "type": "latency"}
    )
    answers = {"a": "answer", "b": "no", "c": None}
    attempts = {"a": 1, "b": 2, "c": 1}
    expected: list[bytes] = []
    for sid, exact_out, latency_out in [
        ("a", (1.0, True, "matches reference 1", None), (12.5, True, "12 ms <= max 100 ms", None)),
        ("b", (0.0, False, "'no' matches none of 1 reference(s)", None),
         (250.0, False, "250 ms > max 100 ms", None)),
        ("c", (None, None, None, "no answer: timeout"), (None, None, None, "no answer: timeout")),
    ]:  # fmt: skip
        kind = "timeout" if sid == "c" else None
        identity = [sid, 0, when[0], when[1], attempts[sid], answers[sid], kind, None]
        record_fp = _sha(orjson.dumps(identity))
        for head, label, (value, passed, reason, error) in (
            (exact, "exact_match", exact_out),
            (latency, "latency", latency_out),
        ):
            fields = [
                '"schema_version":1',
                f'"sample_id":"{sid}"',
                '"repeat":0',
                '"turn":null',
                f'"metric":"{label}"',
                f'"value":{"null" if value is None else repr(value)}',
                f'"passed":{"null" if passed is None else str(passed).lower()}',
                f'"reason":{"null" if reason is None else orjson.dumps(reason).decode()}',
                f'"error":{"null" if error is None else orjson.dumps(error).decode()}',
                '"details":{}',
                f'"fingerprint":"{_sha(f"{head}|{record_fp}|".encode())}"',
            ]
            line = "{" + ",".join(fields) + "}\n"
            expected.append(line.encode())
    assert (tmp_path / "out" / "scores.jsonl").read_bytes() == b"".join(expected)
    stats = evaluation.report.metrics
    assert (stats["exact_match"].passed, stats["exact_match"].failed) == (1, 1)
    assert (stats["exact_match"].errors, stats["latency"].mean) == (1, 131.25)


class _Str(str):
    pass


class _Float(float):
    pass


@pytest.mark.parametrize(
    "fields",
    [
        {"value": 1.0, "passed": True, "reason": "r"},
        {"value": None, "error": "no answer: timeout"},
        {"value": 0.25, "details": {"k": [1, "x"], "n": None}},
        {"value": float("nan"), "passed": None},
        {"value": 1, "passed": True},  # an int: validated into 1.0
        {"value": _Float(0.5), "reason": _Str("sub")},  # subclasses: validated
        {"value": 2.0, "passed": 1},  # not a bool: validated (1 -> True)
        {"value": 3.0, "details": {1: "int key"}},  # not a str key: validation error, as before
    ],
)
def test_make_builds_the_score_validation_would(fields: dict[str, Any]) -> None:
    metric = metric_registry.create("exact_match", {}, name="em", context=MetricContext())
    sample = TestSample(id="s", input="q")
    record = RunRecord(sample_id="s", backend="t", repeat=2)
    item = MetricInput(sample=sample, record=record, output="a", expected=[], turn=1)
    kwargs = {k: v for k, v in fields.items() if k != "value"}
    try:
        made = metric.make(item, fields["value"], **kwargs)
    except Exception as exc:
        with pytest.raises(type(exc)):
            Score(sample_id="s", repeat=2, turn=1, metric="em", value=fields["value"], **kwargs)
        return
    validated = Score(
        sample_id="s",
        repeat=2,
        turn=1,
        metric="em",
        value=fields["value"],
        passed=kwargs.get("passed"),
        reason=kwargs.get("reason"),
        error=kwargs.get("error"),
        details=kwargs.get("details") or {},
    )
    dump = Score.__pydantic_serializer__.to_json
    assert dump(made) == dump(validated)
    assert made.model_fields_set == validated.model_fields_set
    assert list(made.__dict__) == list(validated.__dict__)
    assert [type(v) for v in made.__dict__.values()] == [
        type(v) for v in validated.__dict__.values()
    ]
    made.fingerprint = validated.fingerprint = "sha256:x"
    assert dump(made) == dump(validated)


def test_message_is_the_validated_message() -> None:
    for role, content in [("user", "q"), ("assistant", "ünï"), ("assistant", _Str("s"))]:
        fast, slow = message(role, content), Message(role=role, content=content)  # type: ignore[arg-type]
        assert fast == slow and fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump_json() == slow.model_dump_json()
        assert type(fast.content) is str


def _old_identity(record: RunRecord) -> str:
    given = record.model_fields_set
    return _sha(
        orjson.dumps(
            [
                record.sample_id,
                record.repeat,
                record.started_at.isoformat() if "started_at" in given else None,
                record.finished_at.isoformat() if "finished_at" in given else None,
                record.attempts,
                record.response.text if record.response is not None else None,
                record.error.kind.value if record.error is not None else None,
                len(record.turns) if record.turns is not None else None,
            ]
        )
    )


def test_record_identity_and_fingerprints_keep_their_definition() -> None:
    rng = random.Random(11)
    zones = [
        timezone.utc,
        timezone(timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=-7)),
        timezone(timedelta(seconds=30)),  # orjson would write +00:01: isoformat is kept
        timezone(timedelta(hours=1, seconds=5, microseconds=7)),
        ZoneInfo("Europe/Paris"),
        None,
    ]
    for i in range(3000):
        micro = rng.choice([0, 1, 999_999, rng.randrange(1_000_000)])
        start = datetime(
            rng.randrange(1, 9999), rng.randrange(1, 13), rng.randrange(1, 29),
            rng.randrange(24), rng.randrange(60), rng.randrange(60), micro,
            tzinfo=rng.choice(zones),
        )  # fmt: skip
        fields: dict[str, Any] = {"sample_id": f"s{i}", "backend": "t", "started_at": start}
        if i % 2:
            # parsed from text: pydantic's own TzInfo
            fields["finished_at"] = start.replace(tzinfo=rng.choice(zones[:3])).isoformat()
        if i % 3:
            fields["response"] = {"text": "a"}
        record = RunRecord.model_validate(fields)
        assert record_identity(record) == _old_identity(record), start
    head = FingerprintHead("sha256:m")
    for turn in (None, 0, 3):
        tail = score_tail("sha256:r", turn)
        assert FingerprintHead("sha256:m").of(tail) == score_fingerprint(
            "sha256:m", "sha256:r", turn
        )
    assert head.of(score_tail("sha256:r", None)) == head.of(score_tail("sha256:r", None))


def _counter_f1(pred: list[str], ref: list[str]) -> float:
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(ref)
    return 2 * p * r / (p + r)


def test_token_f1_equals_the_counter_formula() -> None:
    rng = random.Random(5)
    words = ["a", "b", "c", "d", "e"]
    for _ in range(5000):
        pred = [rng.choice(words) for _ in range(rng.randrange(6))]
        ref = [rng.choice(words) for _ in range(rng.randrange(6))]
        assert token_f1(pred, ref) == _counter_f1(pred, ref)


def test_add_to_counts_as_add_does() -> None:
    scores = [
        Score(sample_id="s", metric="m", value=1.0, passed=True),
        Score(sample_id="s", metric="m", value=float("inf"), passed=False),
        Score(sample_id="s", metric="m", value=None, passed=None),
        Score(sample_id="s", metric="m", error="boom"),
        Score(sample_id="t", metric="m", value=0.5, details={"unstable": True}),
        Score(sample_id="t", turn=1, metric="m", value=0.5, passed=True),
    ]
    for by_sample in (False, True):
        one = [Accumulator(), Accumulator(keep_values=False)]
        two = [Accumulator(), Accumulator(keep_values=False)]
        for score in scores:
            add_to(one, score, by_sample=by_sample)
            for acc in two:
                acc.add(score, by_sample=by_sample)
        assert [_state(a) for a in one] == [_state(a) for a in two]
        assert one[0].scored == 5 and one[0].errors == 1 and one[0].unstable == 1


def _state(acc: Accumulator) -> dict[str, Any]:
    state = dict(vars(acc))
    if acc.reps is not None:
        state["reps"] = {k: {n: getattr(r, n) for n in r.__slots__} for k, r in acc.reps.items()}
    return state
