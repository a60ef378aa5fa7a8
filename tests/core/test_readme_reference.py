"""The README's pipeline reference is generated from the models and must not drift."""

from __future__ import annotations

from pathlib import Path

from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.config_reference import MARK_END, MARK_START, render_reference

ROOT = Path(__file__).resolve().parents[2]


def test_readme_embeds_the_current_reference() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(MARK_START) + len(MARK_START)
    block = text[start : text.index(MARK_END)]
    assert block.strip() == render_reference().strip(), (
        "README pipeline reference is stale: run "
        "`python -m chatbot_tester.common.config_reference --write README.md`"
    )


def test_reference_lists_every_top_level_and_runner_key() -> None:
    ref = render_reference()
    for name in PipelineConfig.model_fields:
        assert f"| `{name}` |" in ref
    for key in ("concurrency", "timeout_s", "retries", "max_cost_usd", "repeat", "stream"):
        assert f"| `{key}` |" in ref
