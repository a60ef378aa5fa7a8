"""Fixtures for end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_helpers import QUICKSTART, CliResult, run_cli


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A private copy of examples/quickstart (its workspace lands in tmp_path)."""
    dest = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, dest, ignore=shutil.ignore_patterns("workspace"))
    return dest


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli
