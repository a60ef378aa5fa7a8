"""Merging shard part files into ``results.jsonl``: each (sample id, repeat) once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from chatbot_tester.common.artifacts.jsonl import JsonlAppender, repair_torn_tail
from chatbot_tester.runner.resume import ResultsState, absorb_record

__all__ = ["PartMerger"]

_MERGE_BATCH = 1000
"""Records appended per write."""


class PartMerger:
    """Appends part-file records to ``results.jsonl`` whose key is not there yet."""

    def __init__(self, results_path: Path, state: ResultsState) -> None:
        self.state = state
        self.appender = JsonlAppender(results_path)
        self.merged = 0

    def merge(self, part: Path, on_record: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Merge one part file (its torn tail dropped) and delete it; records added."""
        if not part.exists():
            return 0
        repair_torn_tail(part)
        added = 0
        lines: list[bytes] = []
        with open(part, "rb") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                obj = orjson.loads(raw)
                if absorb_record(self.state, obj):
                    if on_record is not None:
                        on_record(obj)
                    lines.append(raw if raw.endswith(b"\n") else raw + b"\n")
                    added += 1
                    if len(lines) >= _MERGE_BATCH:
                        self.appender.write_lines(lines)
                        lines = []
        if lines:
            self.appender.write_lines(lines)
        part.unlink()
        self.merged += added
        return added

    def merge_leftovers(self, shards_dir: Path) -> int:
        """Merge every part file a previous driver left behind."""
        if not shards_dir.is_dir():
            return 0
        return sum(self.merge(p) for p in sorted(shards_dir.glob("part-*.jsonl")))

    def close(self) -> None:
        """Close ``results.jsonl``."""
        self.appender.close()
