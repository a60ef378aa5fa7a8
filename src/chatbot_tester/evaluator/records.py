"""Streaming readers shared by the evaluation and the reports.

The dataset is indexed by byte offset (id -> line) so a sample is parsed only when a record
needs it: memory stays proportional to the number of ids, not to the text of the dataset.
Results and scores are read de-duplicated, first occurrence wins, exactly as the runner and
the evaluator append them.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from pydantic import ValidationError

from chatbot_tester.common.artifacts.jsonl import format_row_error
from chatbot_tester.common.artifacts.run_files import iter_models
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.common.validation import duplicate_id_error
from chatbot_tester.errors import DatasetError

__all__ = [
    "DatasetIndex",
    "FedKeys",
    "ScoreKey",
    "iter_summary_scores",
    "iter_unique_records",
    "iter_unique_scores",
    "score_key",
]

_BOM = b"\xef\xbb\xbf"

ScoreKey = tuple[str, int, int | None, str]
"""Identity of a score: (sample id, repeat, turn, metric)."""


def score_key(score: Score) -> ScoreKey:
    """The identity of ``score`` within an evaluation."""
    return (score.sample_id, score.repeat, score.turn, score.metric)


class DatasetIndex:
    """Byte offsets of every sample of a dataset file, validated once, parsed on demand.

    ``on_sample(sample, line)`` is called for every sample while indexing (one parse serves
    both the index and any up-front validation).
    """

    def __init__(
        self,
        path: Path,
        *,
        on_sample: Callable[[TestSample, int], object] | None = None,
        validate: bool = True,
    ) -> None:
        self.path = path
        self._on_sample = on_sample
        self._validate = validate or on_sample is not None
        self._offsets: dict[str, int] = {}
        """Sample id -> its position in the file (index into the two arrays)."""
        self._starts = array("q")
        self._line_nos = array("q")
        self._tags: dict[str, tuple[str, ...]] = {}
        self._file: BinaryIO | None = None
        self._build()

    def _build(self) -> None:
        offset = 0
        try:
            fh = self.path.open("rb")
        except OSError as exc:
            raise DatasetError(f"cannot read dataset: {exc.strerror}", file=self.path) from None
        with fh:
            for line_no, line in enumerate(fh, start=1):
                start, offset = offset, offset + len(line)
                if line_no == 1 and line.startswith(_BOM):
                    start, line = len(_BOM), line[len(_BOM) :]
                if not line.strip():
                    continue
                sample_id, tags = self._identify(line, line_no)
                if sample_id in self._offsets:
                    first = self._line_nos[self._offsets[sample_id]]
                    raise duplicate_id_error(
                        sample_id, file=self.path, line=line_no, first_line=first
                    )
                self._offsets[sample_id] = len(self._starts)
                self._starts.append(start)
                self._line_nos.append(line_no)
                if tags:
                    self._tags[sample_id] = tags

    def _identify(self, line: bytes, line_no: int) -> tuple[str, tuple[str, ...]]:
        """Id and tags of one line (fully validated unless the index was built with validate=False)."""
        if not self._validate:
            try:
                obj = orjson.loads(line)
                sample_id, tags = obj["id"], obj.get("tags") or ()
                if (
                    isinstance(sample_id, str)
                    and sample_id
                    and all(isinstance(t, str) for t in tags)
                ):
                    return sample_id, tuple(tags)
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass  # fall through to the validating parse for a precise message
        sample = self._parse(line, line_no)
        if self._on_sample is not None:
            self._on_sample(sample, line_no)
        return sample.id, tuple(sample.tags)

    def _parse(self, line: bytes, line_no: int) -> TestSample:
        try:
            return TestSample.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            if first["type"] == "json_invalid":
                msg = f"invalid JSON: {first['msg']}"
            else:
                msg = format_row_error(exc, TestSample)
            raise DatasetError(msg, file=self.path, line=line_no) from None

    def __len__(self) -> int:
        return len(self._offsets)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._offsets

    def ids(self) -> Iterator[str]:
        """Sample ids in dataset order."""
        return iter(self._offsets)

    def tags(self, sample_id: str) -> tuple[str, ...]:
        """Tags of a sample (empty when it has none or is unknown)."""
        return self._tags.get(sample_id, ())

    def line_of(self, sample_id: str) -> int:
        """1-based line number of a sample (for error messages)."""
        return self._line_nos[self._offsets[sample_id]]

    def position(self, sample_id: str) -> int | None:
        """0-based position of a sample among the dataset's samples (``None`` when unknown)."""
        return self._offsets.get(sample_id)

    def get(self, sample_id: str) -> TestSample:
        """Parse and return the sample ``sample_id`` (KeyError when unknown)."""
        position = self._offsets[sample_id]
        start, line_no = self._starts[position], self._line_nos[position]
        if self._file is None:
            self._file = self.path.open("rb")
        self._file.seek(start)
        return self._parse(self._file.readline(), line_no)

    def __iter__(self) -> Iterator[TestSample]:
        for sample_id in self._offsets:
            yield self.get(sample_id)

    def close(self) -> None:
        """Close the file handle used for on-demand parsing."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> DatasetIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FedKeys:
    """The keys (``id``, or ``id#repeat``) of the records scored as they landed.

    One byte per dataset sample for repeat 0 (the common case), a set for repeats and for
    ids the dataset lacks: a 100k-sample run holds 100 KB here instead of a set of 100k
    strings (~10 MB). Membership answers exactly what a set of those key strings would.
    """

    __slots__ = ("_count", "_first", "_index", "_other")

    def __init__(self, index: DatasetIndex) -> None:
        self._index = index
        self._first = bytearray(len(index))
        self._other: set[str] = set()
        self._count = 0

    def claim(self, sample_id: str, repeat: int) -> bool:
        """Mark the key of (``sample_id``, ``repeat``); False when it was marked already."""
        position = self._index.position(sample_id) if repeat == 0 else None
        if position is not None:
            if self._first[position]:
                return False
            self._first[position] = 1
        else:
            key = sample_id if repeat == 0 else f"{sample_id}#{repeat}"
            if key in self._other:
                return False
            self._other.add(key)
        self._count += 1
        return True

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        position = self._index.position(key)
        if position is not None and self._first[position]:
            return True
        return key in self._other

    def __len__(self) -> int:
        return self._count


def iter_unique_records(path: Path) -> Iterator[RunRecord]:
    """Run records of ``results.jsonl`` de-duplicated by (sample id, repeat), first wins.

    A missing file reads as no records (a run stopped before its first answer); without
    ``results.jsonl`` its Parquet twin is read (``run_files``), and a ``.parquet`` path as it is.
    """
    seen: set[tuple[str, int]] = set()
    for record in iter_models(path, RunRecord, skip_torn_tail=False):
        key = (record.sample_id, record.repeat)
        if key in seen:
            continue
        seen.add(key)
        yield record


def iter_unique_scores(path: Path) -> Iterator[Score]:
    """Scores of ``scores.jsonl`` de-duplicated by (sample, repeat, turn, metric), first wins.

    After an evaluation the file holds one current score per key (``ScoreLedger.compact``
    drops stale ones); de-duplication guards against a file edited or raced by hand. Without
    ``scores.jsonl`` its Parquet twin is read.
    """
    seen: set[ScoreKey] = set()
    for score in iter_models(path, Score, skip_torn_tail=False):
        key = score_key(score)
        if key in seen:
            continue
        seen.add(key)
        yield score


def iter_summary_scores(path: Path, summary: dict[str, Any]) -> Iterator[Score]:
    """The de-duplicated scores of the metrics a summary reports (stale labels left out).

    A resumed evaluation with a changed metric set may leave scores of metrics that are no
    longer configured in ``scores.jsonl``; reports show exactly what the summary counts.
    """
    labels = set(summary.get("metrics", {})) | set(summary.get("turn_metrics", {}))
    for score in iter_unique_scores(path):
        if score.metric in labels:
            yield score
