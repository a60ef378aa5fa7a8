"""llm_judge / g_eval / pairwise: votes, seeds, errors, config, cache and shared resources."""

from __future__ import annotations

from pathlib import Path

import pytest
from judge_helpers import CALLS, CLOSED, PEAK, judge_context, make_item

from chatbot_tester.common.config import JudgeConfig
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics import metric_registry
from chatbot_tester.evaluator.metrics.base import MetricContext


def create(type_: str, options: dict, ctx: MetricContext, name: str = "judge"):
    return metric_registry.create(type_, options, name=name, context=ctx)


async def score_once(type_: str, options: dict, ctx: MetricContext, item=None):
    metric = create(type_, options, ctx)
    try:
        return await metric.ascore(item or make_item("It is Paris."))
    finally:
        await metric.aclose()


async def test_single_vote_uses_temperature_zero_and_no_seed() -> None:
    s = await score_once("llm_judge", {}, judge_context("t0"))
    assert s.value == 1.0 and s.passed is True and s.reason == "agrees with the reference"
    [req] = CALLS["t0"]
    assert req.params == {"temperature": 0} and req.model == "judge-1"
    assert s.details["votes"] == [
        {"score": 5.0, "reason": "agrees with the reference", "error": None}
    ]
    assert s.details["agreement"] == 1.0 and s.details["unstable"] is False
    assert s.details["judge"] == {"backend": "h7_judge", "model": "judge-1"}


async def test_votes_get_consecutive_seeds_and_disagreement_is_flagged() -> None:
    s = await score_once("llm_judge", {"votes": 3, "seed": 30}, judge_context("seeds", "by_seed"))
    seeds = sorted(r.params["seed"] for r in CALLS["seeds"])
    assert seeds == [30, 31, 32]
    assert all(r.params["temperature"] == 0.7 for r in CALLS["seeds"])
    # seed 30 -> 2, 31 -> 5, 32 -> 5: majority passes, one vote disagrees
    assert s.passed is True and s.value == 1.0
    assert s.details["unstable"] is True and s.details["agreement"] == pytest.approx(2 / 3)
    assert sorted(v["score"] for v in s.details["votes"]) == [2.0, 5.0, 5.0]


async def test_mean_aggregate_and_pass_threshold_on_scale() -> None:
    ctx = judge_context("mean", "by_seed")
    s = await score_once("llm_judge", {"votes": 3, "aggregate": "mean", "pass_threshold": 4.5}, ctx)
    assert s.details["score"] == pytest.approx(4.0) and s.value == pytest.approx(0.75)
    assert s.passed is False and s.details["pass_threshold"] == 4.5


async def test_params_seed_is_the_base_seed() -> None:
    ctx = MetricContext(
        judge=JudgeConfig(
            backend="h7_judge", options={"tag": "pseed"}, params={"seed": 7, "temperature": 0.2}
        )
    )
    await score_once("llm_judge", {"votes": 2}, ctx)
    assert sorted(r.params["seed"] for r in CALLS["pseed"]) == [7, 8]
    assert {r.params["temperature"] for r in CALLS["pseed"]} == {0.2}


async def test_bad_vote_is_an_error_not_a_zero() -> None:
    s = await score_once("llm_judge", {"votes": 3}, judge_context("garbage", "garbage_on_seed1"))
    assert s.error is None and s.value == 1.0
    errors = [v for v in s.details["votes"] if v["error"]]
    assert (
        len(errors) == 1
        and errors[0]["score"] is None
        and "not a JSON object" in errors[0]["error"]
    )
    assert s.details["vote_errors"] == 1


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("The answer is fine, 5/5.", "not a JSON object"),
        ('{"score": 9, "reason": "wow"}', "outside the scale"),
    ],
)
async def test_all_votes_bad_gives_no_value(reply: str, why: str) -> None:
    s = await score_once("llm_judge", {}, judge_context("allbad", "fixed", reply=reply))
    assert s.value is None and s.passed is None
    assert s.error is not None and s.error.startswith("judge: ") and why in s.error


async def test_no_answer_is_an_error() -> None:
    s = await score_once("llm_judge", {}, judge_context("none"), make_item(None))
    assert s.value is None and s.error == "no answer to judge"
    assert not CALLS["none"]


async def test_scale_one_to_ten_and_default_threshold() -> None:
    ctx = judge_context("ten", "fixed", reply='{"score": 8, "reason": "ok"}')
    s = await score_once("llm_judge", {"scale": [1, 10]}, ctx)
    assert s.value == pytest.approx(7 / 9) and s.passed is True  # default pass at 7.75
    system = CALLS["ten"][0].messages[0].content
    assert "from 1 (worst) to 10 (best)" in system


async def test_normalised_threshold_alternative() -> None:
    ctx = judge_context("norm", "fixed", reply='{"score": 3, "reason": "ok"}')
    s = await score_once("llm_judge", {"threshold": 0.5}, ctx)
    assert s.value == 0.5 and s.passed is True


async def test_g_eval_prompt_lists_criteria_and_steps() -> None:
    ctx = judge_context("geval")
    options = {
        "criteria": {"correctness": "Names the right city", "brevity": "One sentence"},
        "steps": ["Read the question", "Compare with the reference"],
    }
    s = await score_once("g_eval", options, ctx)
    assert s.passed is True
    system = CALLS["geval"][0].messages[0].content
    assert (
        "- correctness: Names the right city" in system
        and "2. Compare with the reference" in system
    )


async def test_context_documents_are_shown_as_data() -> None:
    item = make_item("It is Paris.", context=["France's capital is Paris."])
    await score_once("llm_judge", {}, judge_context("ctx"), item)
    user = CALLS["ctx"][0].messages[1].content
    assert " context>>>\nFrance's capital is Paris." in user
    await score_once("llm_judge", {"include_context": False}, judge_context("noctx"), item)
    assert " context>>>" not in CALLS["noctx"][0].messages[1].content


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scale": [5, 1]}, "lowest < highest"),
        ({"pass_threshold": 9}, "outside the scale"),
        ({"rubric": "x", "criteria": [{"name": "a", "description": "b"}]}, "not both"),
        ({"pass_threshold": 4, "threshold": 0.5}, "not both"),
        ({"votes": 0}, "votes"),
        ({"aggregate": "median"}, "aggregate"),
        ({"rubrik": "x"}, "did you mean 'rubric'"),
    ],
)
def test_bad_options_are_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create("llm_judge", options, judge_context("bad"))


def test_g_eval_requires_criteria() -> None:
    with pytest.raises(ConfigError, match="criteria"):
        create("g_eval", {"rubric": "x"}, judge_context("bad"))


def test_missing_judge_names_evaluator_judge() -> None:
    with pytest.raises(ConfigError, match=r"evaluator\.judge"):
        create("llm_judge", {}, MetricContext())


async def test_metric_can_bring_its_own_judge() -> None:
    metric = create(
        "llm_judge",
        {"backend": "h7_judge", "model": "m2", "options": {"tag": "own"}},
        MetricContext(),
    )
    try:
        s = await metric.ascore(make_item("Paris"))
    finally:
        await metric.aclose()
    assert s.passed is True and CALLS["own"][0].model == "m2"


async def test_metric_overrides_model_and_params_of_pipeline_judge() -> None:
    ctx = judge_context("override")
    await score_once("llm_judge", {"model": "bigger", "params": {"max_tokens": 50}}, ctx)
    [req] = CALLS["override"]
    assert req.model == "bigger" and req.params == {"max_tokens": 50, "temperature": 0}


async def test_unknown_judge_backend_is_a_plugin_error() -> None:
    from chatbot_tester.errors import PluginError

    with pytest.raises(PluginError, match="h7_judg"):
        create("llm_judge", {}, MetricContext(judge=JudgeConfig(backend="h7_judg")))


async def test_metrics_share_one_client_and_close_it_once() -> None:
    ctx = judge_context("shared")
    m1 = create("llm_judge", {}, ctx, name="a")
    m2 = create("g_eval", {"criteria": [{"name": "c", "description": "d"}]}, ctx, name="b")
    assert m1.client is m2.client
    await m1.ascore(make_item("Paris"))
    await m1.aclose()
    assert CLOSED["shared"] == 0
    await m2.ascore(make_item("Paris"))
    await m2.aclose()
    await m2.aclose()  # idempotent
    assert CLOSED["shared"] == 1
    assert (
        "chatbot_tester.judge.pool" not in ctx.extras
    )  # the pool removed itself (the spend stays)


async def test_votes_respect_the_judge_concurrency_limit() -> None:
    ctx = judge_context("limit", "gullible", delay_s=0.01, concurrency=2)
    s = await score_once("llm_judge", {"votes": 7}, ctx)
    assert len(CALLS["limit"]) == 7 and s.passed is True
    assert PEAK["limit"] == 2


async def test_verdicts_are_cached_in_the_workspace(tmp_path: Path) -> None:
    first = await score_once("llm_judge", {}, judge_context("cache", workspace=tmp_path))
    assert len(CALLS["cache"]) == 1 and first.details["cached_votes"] == 0
    second = await score_once("llm_judge", {}, judge_context("cache", workspace=tmp_path))
    assert len(CALLS["cache"]) == 1 and second.details["cached_votes"] == 1
    assert second.value == first.value and second.reason == first.reason
    # a different rubric is a different prompt: not served from the cache
    await score_once(
        "llm_judge", {"rubric": "Be strict."}, judge_context("cache", workspace=tmp_path)
    )
    assert len(CALLS["cache"]) == 2
    assert (tmp_path / "cache" / "responses.sqlite").exists()


async def test_unparseable_verdicts_are_not_cached(tmp_path: Path) -> None:
    for _ in range(2):
        s = await score_once(
            "llm_judge", {}, judge_context("nocache", "fixed", workspace=tmp_path, reply="five")
        )
        assert s.error is not None
    assert len(CALLS["nocache"]) == 2


# ---------------------------------------------------------------- pairwise


async def test_pairwise_consistent_win_and_loss() -> None:
    win = await score_once(
        "pairwise", {}, judge_context("pw", "prefer"), make_item("Paris", expected="Lyon")
    )
    assert win.value == 1.0 and win.passed is True and win.details["position_bias"] is False
    assert win.details["outcome"] == "win"
    loss = await score_once(
        "pairwise",
        {},
        judge_context("pw2", "prefer"),
        make_item("Lyon", expected=None, metadata={"baseline_output": "Paris"}),
    )
    assert loss.value == 0.0 and loss.passed is False and loss.details["outcome"] == "loss"
    # the answer really was shown in both positions
    a_blocks = [
        r.messages[1].content.split(" answer_a>>>\n")[1].split("\n")[0] for r in CALLS["pw2"]
    ]
    assert sorted(a_blocks) == ["Lyon", "Paris"]


async def test_pairwise_position_bias_is_a_flagged_tie() -> None:
    s = await score_once(
        "pairwise", {}, judge_context("bias", "always_a"), make_item("Paris", expected="Lyon")
    )
    assert s.value == 0.5 and s.passed is True
    assert s.details["position_bias"] is True and s.details["outcome"] == "tie"
    assert "position bias" in (s.reason or "")


async def test_pairwise_needs_a_reference() -> None:
    s = await score_once(
        "pairwise", {}, judge_context("noref", "prefer"), make_item("Paris", expected=None)
    )
    assert s.value is None and "metadata.baseline_output" in (s.error or "")


async def test_pairwise_bad_reply_is_an_error() -> None:
    s = await score_once(
        "pairwise", {}, judge_context("pwbad", "fixed", reply="A is better"), make_item("Paris")
    )
    assert s.value is None and s.error and s.error.startswith("judge: ")
