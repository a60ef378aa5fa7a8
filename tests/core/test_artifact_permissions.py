"""Atomically written artifacts get ordinary file permissions, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from chatbot_tester.common.artifacts.storage import atomic_write_text


def test_atomic_write_respects_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = tmp_path / "report.html"
        atomic_write_text(target, "<p>x</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
