"""What the viewer reads from a workspace: the run index, run files and per-run sample indexes.

Everything here is read-only except tags. Sample indexes are built on first use and kept
for a bounded number of runs (least recently used first out), so browsing many large runs
does not grow the server's memory or temporary disk without bound.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson

from chatbot_tester.common.artifacts.run_index import TAGS_FILE, RunEntry, open_index
from chatbot_tester.common.artifacts.workspace import (
    EVENTS,
    MANIFEST,
    REPORT_JSON,
    RUN_ID_PATTERN,
    Workspace,
)
from chatbot_tester.orchestrator.variants import GROUPS_DIR
from chatbot_tester.viewer.sample_index import SampleIndex

__all__ = ["TAG_PATTERN", "ViewStore"]

TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""What a tag may look like (the same rule as ``runs tag``)."""
_KEEP_INDEXES = 4
GROUP_FILE = "compare.json"
"""The group comparison inside ``groups/<group id>/`` (written by the variants pipeline)."""


class ViewStore:
    """One workspace as the viewer sees it."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._samples: OrderedDict[str, SampleIndex] = OrderedDict()

    def runs(self) -> list[RunEntry]:
        """Every run, oldest first, from the refreshed index."""
        with open_index(self.workspace) as index:
            return index.entries()

    def entry(self, run_id: str) -> RunEntry | None:
        """The index entry of ``run_id`` (``None`` when unknown or not a run id)."""
        if not RUN_ID_PATTERN.match(run_id):
            return None
        with open_index(self.workspace) as index:
            return index.get(run_id)

    def run_dir(self, run_id: str) -> Path:
        """The local directory of ``run_id`` (an id already checked by ``entry``)."""
        return self.workspace.runs_dir / run_id

    def run_json(self, run_id: str, name: str) -> Any:
        """A run's JSON file (manifest, report) parsed, or ``None``."""
        raw = self.workspace.read_run_file(run_id, name)
        if raw is None:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None

    def report(self, run_id: str) -> Any:
        """The run's report.json, parsed."""
        return self.run_json(run_id, REPORT_JSON)

    def manifest(self, run_id: str) -> Any:
        """The run's manifest.json, parsed."""
        return self.run_json(run_id, MANIFEST)

    def events_path(self, run_id: str) -> Path:
        """The run's event log."""
        return self.run_dir(run_id) / EVENTS

    def samples(self, run_id: str) -> SampleIndex:
        """The sample index of ``run_id``: built on first use; rebuilt once the run has moved on."""
        stamp = self._stamp(run_id)
        with self._lock:
            found = self._samples.get(run_id)
            if found is not None and found.stamp == stamp:
                self._samples.move_to_end(run_id)
                return found
            if found is not None:
                found.close()
            index = SampleIndex(self.run_dir(run_id), stamp=stamp)
            self._samples[run_id] = index
            while len(self._samples) > _KEEP_INDEXES:
                _, old = self._samples.popitem(last=False)
                old.close()
            return index

    def _stamp(self, run_id: str) -> tuple[int, ...]:
        out = []
        for name in ("results.jsonl", "scores.jsonl", "results.parquet", "scores.parquet"):
            try:
                st = (self.run_dir(run_id) / name).stat()
                out += [st.st_size, st.st_mtime_ns]
            except FileNotFoundError:
                out += [0, 0]
        return tuple(out)

    def group(self, group_id: str) -> dict[str, Any] | None:
        """A variant group's compare.json, parsed (``None`` when unknown or not a group id)."""
        if not RUN_ID_PATTERN.match(group_id):
            return None
        try:
            data = orjson.loads((self.groups_dir / group_id / GROUP_FILE).read_bytes())
        except (FileNotFoundError, NotADirectoryError, orjson.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def groups(self) -> list[dict[str, Any]]:
        """Every variant group, newest first: id, pipeline, baseline, variants and run ids."""
        if not self.groups_dir.is_dir():
            return []
        entries = {e.run_id: e for e in self.runs()}
        out = []
        for path in sorted(self.groups_dir.iterdir(), reverse=True):
            data = self.group(path.name)
            if data is None:
                continue
            sides = [data.get("baseline") or {}, *(data.get("variants") or [])]
            base = entries.get(str(sides[0].get("run_id")))
            out.append(
                {
                    "group": path.name,
                    "pipeline": base.pipeline if base else None,
                    "created_at": base.created_at if base else None,
                    "baseline": sides[0].get("name"),
                    "variants": [{"name": s.get("name"), "run_id": s.get("run_id")} for s in sides],
                    "regressed": [
                        name
                        for name, c in (data.get("comparisons") or {}).items()
                        if any(m.get("verdict") == "regression" for m in c.get("metrics") or [])
                    ]
                    + list(data.get("problems") or {}),
                }
            )
        return out

    @property
    def groups_dir(self) -> Path:
        """``<workspace>/groups``: one folder per variant group."""
        return self.workspace.root / GROUPS_DIR

    def set_tags(self, run_id: str, tags: list[str]) -> list[str]:
        """Replace the tags of ``run_id`` (each checked against ``TAG_PATTERN``)."""
        clean: list[str] = []
        for tag in tags:
            if not isinstance(tag, str) or not TAG_PATTERN.match(tag) or tag == "latest":
                raise ValueError(f"tag {tag!r}: use letters, digits, '.', '_' or '-' (up to 64)")
            if tag not in clean:
                clean.append(tag)
        self.workspace.write_run_file(run_id, TAGS_FILE, orjson.dumps(clean))
        return clean

    def close(self) -> None:
        """Drop every sample index."""
        with self._lock:
            for index in self._samples.values():
                index.close()
            self._samples.clear()
