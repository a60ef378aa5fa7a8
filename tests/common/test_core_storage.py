"""Atomic writes and the local artifact store."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_tester.common.artifacts.storage import (
    ArtifactStore,
    LocalStore,
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
)
from chatbot_tester.errors import ConfigError


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "f.json"
    atomic_write_bytes(path, b"one")
    atomic_write_text(path, "twö")
    assert path.read_text("utf-8") == "twö"
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]


def test_atomic_open_failure_keeps_old_content(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"old")
    with pytest.raises(KeyError), atomic_open(path) as fh:
        fh.write(b"new partial")
        raise KeyError("boom")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_local_store_round_trip(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert isinstance(store, ArtifactStore)
    store.put_bytes("runs/r1/report.json", b"{}")
    store.put_text("runs/r1/report.md", "# hi")
    store.append_line("runs/r1/results.jsonl", b'{"a":1}')
    store.append_line("runs/r1/results.jsonl", b'{"a":2}\n')
    assert store.get_bytes("runs/r1/report.json") == b"{}"
    assert store.get_text("runs/r1/report.md") == "# hi"
    assert store.get_bytes("runs/r1/results.jsonl") == b'{"a":1}\n{"a":2}\n'
    assert store.exists("runs/r1/report.json")
    assert not store.exists("runs/r1/nope")
    assert store.list("runs") == [
        "runs/r1/report.json",
        "runs/r1/report.md",
        "runs/r1/results.jsonl",
    ]
    assert store.list("missing") == []
    with pytest.raises(FileNotFoundError):
        store.get_bytes("runs/nope")


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a\\b", "a\x00b", "C:/x", "a/"],
)
def test_unsafe_keys_rejected(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path / "root")
    with pytest.raises(ConfigError, match="invalid storage key"):
        store.put_bytes(key, b"x")
    assert not (tmp_path / "x").exists()
