"""One workspace with real runs for every viewer test in this folder (built once per module)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from view_helpers import run, view_server, write_pipeline, write_variants_pipeline


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five runs of a stable bot, then one of a bot that answers differently (a regression)."""
    root = tmp_path_factory.mktemp("view")
    good = write_pipeline(root)
    for _ in range(5):
        run(good)
    bad = write_pipeline(root, prefix="nope: ")
    run(bad)
    return root / "ws"


@pytest.fixture(scope="module")
def server(history: Path) -> Iterator[str]:
    with view_server(history) as url:
        yield url


@pytest.fixture(scope="module")
def variant_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One variants pipeline run (two variants, the second regresses), XSS in every field."""
    root = tmp_path_factory.mktemp("variants")
    proc = run(write_variants_pipeline(root))
    assert proc.returncode == 1, proc.stdout  # the candidate variant regressed
    return root / "vws"


@pytest.fixture(scope="module")
def variant_server(variant_set: Path) -> Iterator[str]:
    with view_server(variant_set) as url:
        yield url
