"""Reasons and previews never show a registered secret, not even its normalised prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ct_metric_kit import make_item, run

from chatbot_tester.common.redact import clear_secrets, register_secret

SECRET = "sk-canary-Reason-0123456789"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    clear_secrets()
    register_secret(SECRET)
    yield
    clear_secrets()


def _leaks(text: str) -> bool:
    flat = "".join(ch for ch in text.lower() if ch.isalnum())
    return "skcanaryreason" in flat or "canaryreason0123" in flat


@pytest.mark.parametrize("pad", [0, 60, 70, 75])
def test_exact_match_reason_masks_the_normalised_copy(pad: int) -> None:
    score = run("exact_match", make_item("x" * pad + " " + SECRET, "something else"))
    assert score.reason is not None
    assert not _leaks(score.reason), score.reason


@pytest.mark.parametrize("pad", [0, 40, 50])
def test_pattern_previews_mask_before_the_cut(pad: int) -> None:
    score = run("not_contains", make_item("y" * pad + " " + SECRET), {"value": "canary"})
    assert score.reason is not None
    assert not _leaks(score.reason), score.reason
