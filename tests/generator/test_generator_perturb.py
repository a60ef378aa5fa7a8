"""Offline perturbations: every kind changes the user text, deterministically, traced to its parent."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import yaml

from chatbot_tester.cli.main import main
from chatbot_tester.common.config_generator import PERTURBATIONS, PerturbationsConfig
from chatbot_tester.common.schemas import TestSample
from chatbot_tester.generator.perturb import perturb_samples, perturb_text

QUESTION = "Can I return a pair of hiking boots after thirty days, please?"


def samples() -> list[TestSample]:
    return [
        TestSample(id="q1", input=QUESTION, expected="Yes.", tags=["returns"]),
        TestSample(
            id="q2",
            turns=[{"user": "Where is my order today?"}, {"user": "Order number 1234 please"}],
        ),
        TestSample(id="q1~typos", input="an id that looks like a variant"),
    ]


@pytest.mark.parametrize("kind", PERTURBATIONS)
def test_each_kind_changes_the_text_deterministically(kind: str) -> None:
    out = perturb_text(QUESTION, kind, seed=1, key="q1", rate=0.2)  # type: ignore[arg-type]
    assert out != QUESTION
    assert out == perturb_text(QUESTION, kind, seed=1, key="q1", rate=0.2)  # type: ignore[arg-type]


def test_confusables_and_truncation_look_alike_but_differ() -> None:
    spoofed = perturb_text(QUESTION, "confusables", seed=0, key="k", rate=0.3)
    assert len(spoofed) == len(QUESTION) and any(ord(c) > 127 for c in spoofed)
    cut = perturb_text(QUESTION, "truncation", seed=0, key="k", rate=0.3)
    assert QUESTION.startswith(cut) and len(cut.split()) < len(QUESTION.split())


def test_variants_are_tagged_and_traced_to_their_parent() -> None:
    config = PerturbationsConfig(kinds=["typos", "casing"], only_tags=[], seed=3)
    out = list(perturb_samples(samples(), config))
    assert [s.id for s in out] == [
        "q1", "q1~typos-2", "q1~casing", "q2", "q2~typos", "q2~casing",
        "q1~typos", "q1~typos~typos", "q1~typos~casing",
    ]  # fmt: skip
    parent, variant = out[0], out[1]
    assert parent.tags == ["returns", "perturbation:none"] and parent.input == QUESTION
    assert variant.tags == ["returns", "perturbation:typos"] and variant.expected == "Yes."
    assert variant.metadata["origin"] == {
        "step": "perturbation",
        "parent_id": "q1",
        "perturbation": "typos",
        "seed": 3,
    }
    originals = samples()[1].turns or []
    varied = out[5].turns or []
    assert len(varied) == 2 and all(
        v.user != o.user for v, o in zip(varied, originals, strict=True)
    )
    assert [v.user.lower() for v in varied] == [o.user.lower() for o in originals]  # casing only
    again = list(perturb_samples(samples(), config))
    assert [s.model_dump() for s in again] == [s.model_dump() for s in out]
    only = list(
        perturb_samples(
            samples(), config.model_copy(update={"only_tags": ["returns"], "keep_original": False})
        )
    )
    assert [s.id for s in only] == ["q1~typos-2", "q1~casing", "q2", "q1~typos"]


def test_run_reports_pass_rate_per_perturbation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {
            "id": f"q{i}",
            "input": f"Question number {i} about returning boots",
            "expected": f"Question number {i} about returning boots",
        }
        for i in range(4)
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": "robustness",
        "workspace": "./ws",
        "generator": {
            "source": "data.jsonl",
            "perturbations": {"kinds": ["typos", "casing"], "seed": 1},
        },
        "runner": {"backend": "echo"},
        "evaluator": {"metrics": [{"type": "exact_match"}]},
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    with contextlib.suppress(SystemExit):
        main(["run", str(tmp_path / "pipeline.yaml")])
    out, _ = capsys.readouterr()
    report = json.loads((Path(out.strip().splitlines()[-1]) / "report.json").read_text())
    tags = report["tags"]
    assert tags["perturbation:none"]["exact_match"]["pass_rate"] == 1.0
    assert tags["perturbation:typos"]["exact_match"]["pass_rate"] == 0.0
    assert tags["perturbation:typos"]["exact_match"]["total"] == 4


def test_dry_run_counts_the_variants(tmp_path: Path) -> None:
    from chatbot_tester.orchestrator import plan_pipeline

    (tmp_path / "data.jsonl").write_text(
        '{"id": "a", "input": "hello there"}\n{"id": "b", "input": "bye now"}\n'
    )
    config = {
        "name": "robustness",
        "workspace": str(tmp_path / "ws"),
        "generator": {
            "source": "data.jsonl",
            "perturbations": {"kinds": ["typos", "casing", "filler"]},
        },
        "runner": {"backend": "echo"},
        "evaluator": {"metrics": [{"type": "exact_match"}]},
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    plan = plan_pipeline(tmp_path / "pipeline.yaml")
    assert plan.samples == 8 and next(s for s in plan.stages if s.stage == "run").calls == 8


async def test_llm_paraphrase_variants_are_cached_and_placed_after_their_parent(
    tmp_path: Path,
) -> None:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.config import GeneratorConfig
    from chatbot_tester.errors import DatasetError
    from chatbot_tester.generator.generate import generate_dataset

    rows = [
        {"id": "q1", "input": "Can I return boots?", "expected": "Yes."},
        {"id": "q2", "turns": [{"user": "Where is my order?"}, {"user": "Order 1234"}]},
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    writer = {
        "backend": "scripted",
        "options": {
            "rules": [
                {"contains": "return boots", "reply": "Is it possible to send boots back?"},
                {"contains": "Where is my order", "reply": "Where has my order got to?"},
                {"contains": "Order 1234", "reply": "It's order number 1234"},
            ]
        },
    }
    gen = GeneratorConfig.model_validate(
        {"source": "data.jsonl", "perturbations": {"kinds": ["casing"], "paraphrase": writer}}
    )
    out = tmp_path / "d.jsonl"
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        await generate_dataset(gen, base_dir=tmp_path, out_path=out, cache=cache)
        first = out.read_bytes()
        cache.flush()
        await generate_dataset(gen, base_dir=tmp_path, out_path=out, cache=cache)
    finally:
        cache.close()
    assert out.read_bytes() == first
    got = [json.loads(line) for line in first.splitlines()]
    assert [r["id"] for r in got] == [
        "q1",
        "q1~casing",
        "q1~paraphrase",
        "q2",
        "q2~casing",
        "q2~paraphrase",
    ]
    assert got[2]["input"] == "Is it possible to send boots back?" and got[2]["expected"] == "Yes."
    assert [t["user"] for t in got[5]["turns"]] == [
        "Where has my order got to?",
        "It's order number 1234",
    ]
    assert (
        got[2]["tags"] == ["perturbation:paraphrase"]
        and got[2]["metadata"]["origin"]["parent_id"] == "q1"
    )
    failing = gen.model_copy(deep=True)
    assert failing.perturbations is not None and failing.perturbations.paraphrase is not None
    failing.perturbations.paraphrase.options = {"fail": [{"error": "http_500", "times": None}]}
    failing.perturbations.paraphrase.params = {"x": 1}
    with pytest.raises(DatasetError, match=r"perturbations\.paraphrase: sample 'q"):
        await generate_dataset(failing, base_dir=tmp_path, out_path=tmp_path / "f.jsonl")
    assert not (tmp_path / "f.jsonl").exists()
