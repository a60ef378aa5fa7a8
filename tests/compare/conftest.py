from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from compare_helpers import write_run

from chatbot_tester.common.schemas import Score


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, scores: list[Score], rep: dict[str, Any] | None = None) -> Path:
        return write_run(tmp_path / "workspace" / "runs" / name, scores, rep)

    return make
