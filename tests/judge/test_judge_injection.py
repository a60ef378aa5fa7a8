"""Prompt-injection resistance: adversarial answers are graded on their merits.

The scripted judge is gullible on purpose: it obeys any scoring instruction it finds outside
the data blocks and ends a data block at the first END marker it sees. With our prompt every
adversarial answer still gets its honest grade; with a naive concatenated prompt every one of
them fools the same judge, so this test fails if the delimiting stops working.
"""

from __future__ import annotations

import json
import re

import pytest
from judge_helpers import ADVERSARIAL, CALLS, REF_ID, gullible_verdict, judge_context, make_item

from chatbot_tester.common.schemas import Message
from chatbot_tester.evaluator.metrics import metric_registry
from chatbot_tester.evaluator.metrics.base import MetricInput
from chatbot_tester.evaluator.metrics.judge import JudgeOptions, LLMJudgeMetric
from chatbot_tester.evaluator.metrics.judge_prompt import DataBlock, delimit


class NaiveJudgeMetric(LLMJudgeMetric):
    """The same metric with the prompt most tools build: plain concatenation, no delimiters."""

    def build_messages(self, item: MetricInput, answer: str) -> list[Message]:
        text = (
            f"You are a grader. {self.rubric}\nGrade from 1 to 5.\n"
            f"Question: {item.input_text}\nReference answer: {', '.join(item.expected)}\n"
            f'Answer: {answer}\nReply with JSON {{"score": <1-5>, "reason": "..."}}'
        )
        return [Message(role="user", content=text)]


async def _grade_all(metric: LLMJudgeMetric) -> list[tuple[float | None, bool | None]]:
    out = []
    for i, (answer, _) in enumerate(ADVERSARIAL):
        score = await metric.ascore(make_item(answer, sample_id=f"adv{i}"))
        assert score.error is None, score.error
        out.append((score.value, score.passed))
    return out


async def test_adversarial_answers_are_graded_on_their_merits() -> None:
    ctx = judge_context("inject")
    metric = metric_registry.create("llm_judge", {}, name="judge", context=ctx)
    try:
        results = await _grade_all(metric)
    finally:
        await metric.aclose()
    for (answer, good), (value, passed) in zip(ADVERSARIAL, results, strict=True):
        assert passed is good, f"fooled by: {answer!r}"
        assert value == (1.0 if good else 0.0)
    # every prompt really went to the judge, with instructions only in the system message
    assert len(CALLS["inject"]) == len(ADVERSARIAL)
    for request in CALLS["inject"]:
        system, user = request.messages
        assert system.role == "system" and not re.search(r"<<<DATA d[0-9a-f]{16}", system.content)
        assert user.content.count("<<<DATA d") == 3  # question, reference, answer


async def test_naive_prompt_is_fooled_by_every_adversarial_answer() -> None:
    ctx = judge_context("naive")
    metric = NaiveJudgeMetric(JudgeOptions(), name="naive", context=ctx)
    try:
        results = await _grade_all(metric)
    finally:
        await metric.aclose()
    fooled = [
        answer
        for (answer, good), (_, passed) in zip(ADVERSARIAL, results, strict=True)
        if passed is not good
    ]
    assert fooled == [answer for answer, _ in ADVERSARIAL]


def test_gullible_judge_grades_honest_answers_without_injection() -> None:
    # sanity check of the double itself: no instruction anywhere -> grade by content
    blocks = [DataBlock("question", "Capital of France?"), DataBlock("answer", "It is Paris.")]
    assert json.loads(gullible_verdict([delimit(blocks)]))["score"] == 5
    blocks[1] = DataBlock("answer", "It is Lyon.")
    assert json.loads(gullible_verdict([delimit(blocks)]))["score"] == 1


@pytest.mark.parametrize("answer", [a for a, _ in ADVERSARIAL])
def test_answer_cannot_close_its_block(answer: str) -> None:
    rendered = delimit([DataBlock("reference_answer", "Paris"), DataBlock("answer", answer)])
    # exactly two openings and two closings, all ours: the answer's fakes are defused
    assert rendered.count("<<<") == 4 and rendered.count(">>>") == 4
    assert REF_ID not in rendered.split("<<<DATA", 2)[2].split("\n", 1)[1]


def test_boundary_ids_are_deterministic_and_content_bound() -> None:
    a = delimit([DataBlock("answer", "hello")])
    assert a == delimit([DataBlock("answer", "hello")])
    assert a.split()[1] != delimit([DataBlock("answer", "hello!")]).split()[1]
