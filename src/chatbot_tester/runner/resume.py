"""What a results file already holds: the done keys for resume, and the running tallies.

A results file is append-only JSONL, one ``RunRecord`` per (sample id, repeat). Resume
repairs a torn last line (a write cut short by a crash), then skips every key already
recorded; readers de-duplicate by key, first record wins, so a record is never counted
twice even if a file was concatenated by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from chatbot_tester.common.artifacts.jsonl import iter_json_objects, repair_torn_tail
from chatbot_tester.common.artifacts.run_files import iter_models
from chatbot_tester.common.schemas import RunRecord

__all__ = [
    "KeySet",
    "ResultsState",
    "RunTally",
    "absorb_record",
    "load_results",
    "read_records",
    "record_key",
]


class RunTally:
    """Counters over every record of a run (earlier invocations included)."""

    __slots__ = ("answered_calls", "completion_tokens", "cost_known", "cost_usd", "errors", "ok")

    def __init__(self) -> None:
        self.ok = 0
        """Records with an answer."""
        self.errors: dict[str, int] = {}
        """Error records by error kind."""
        self.cost_usd = 0.0
        """Sum of the known costs."""
        self.cost_known = 0
        """Records whose cost is known."""
        self.completion_tokens = 0
        """Completion tokens of answered calls (for the budget's running average)."""
        self.answered_calls = 0
        """Answered calls (turns count one each)."""

    def add(
        self,
        error_kind: str | None,
        cost: float | None,
        completion_tokens: int | None,
        calls: int,
    ) -> None:
        """Count one record."""
        if error_kind is None:
            self.ok += 1
        else:
            self.errors[error_kind] = self.errors.get(error_kind, 0) + 1
        if cost is not None:
            self.cost_usd += cost
            self.cost_known += 1
        if completion_tokens is not None:
            self.completion_tokens += completion_tokens
            self.answered_calls += calls

    def add_record(self, record: RunRecord) -> None:
        """Count one ``RunRecord``."""
        usage = record.usage
        turns = record.turns
        calls = sum(1 for t in turns if t.response is not None) if turns else 1
        self.add(
            None if record.error is None else record.error.kind.value,
            record.cost_usd,
            None if usage is None else usage.completion_tokens,
            calls,
        )

    @property
    def error_count(self) -> int:
        """Records that ended in an error."""
        return sum(self.errors.values())


class KeySet(Protocol):
    """What the runners need of a set of (sample id, repeat) keys.

    A ``set`` locally; ``runner.keyset.CompactKeys`` (16 bytes a key) on the Ray driver.
    """

    def __contains__(self, key: object, /) -> bool: ...

    def __len__(self) -> int: ...

    def add(self, key: tuple[str, int], /) -> object:
        """Add ``key`` (a no-op when it is there)."""


class ResultsState:
    """The keys already recorded in a results file and the tallies over them."""

    def __init__(self, done: KeySet | None = None) -> None:
        self.done: KeySet = set() if done is None else done
        """(sample id, repeat) of every record present."""
        self.tally = RunTally()
        """Counters over the records present."""
        self.repaired_bytes = 0
        """Bytes of a torn last line removed before reading."""


def _get(obj: dict[str, Any], key: str) -> Any:
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def record_key(obj: dict[str, Any]) -> tuple[str, int]:
    """The (sample id, repeat) of a record read as a plain object."""
    return (str(obj.get("sample_id")), int(obj.get("repeat") or 0))


def absorb_record(state: ResultsState, obj: dict[str, Any]) -> bool:
    """Count one record (a plain object) into ``state``; ``False`` if its key is already there."""
    key = record_key(obj)
    done = state.done
    if key in done:
        return False
    done.add(key)
    error = _get(obj, "error")
    usage = _get(obj, "usage")
    turns = obj.get("turns")
    calls = 1
    if isinstance(turns, list) and turns:
        calls = sum(1 for t in turns if isinstance(t, dict) and t.get("response"))
    cost = obj.get("cost_usd")
    state.tally.add(
        None if error is None else str(error.get("kind")),
        float(cost) if isinstance(cost, (int, float)) else None,
        usage.get("completion_tokens") if usage is not None else None,
        calls,
    )
    return True


def load_results(path: Path, keys: KeySet | None = None) -> ResultsState:
    """Repair ``path``'s torn tail and read its keys and tallies (cheaply, without pydantic).

    ``keys`` is the (empty) set to hold the keys, a ``set`` by default.
    """
    state = ResultsState(keys)
    path = Path(path)
    if not path.exists():
        return state
    state.repaired_bytes = repair_torn_tail(path)
    for _, obj in iter_json_objects(path):
        absorb_record(state, obj)
    return state


def read_records(results_path: Path) -> Iterator[RunRecord]:
    """Stream the records of a results file, de-duplicated by (sample id, repeat), first wins.

    A torn last line (left by a crash) is skipped; any other bad line raises ``DatasetError``
    naming the file and line. Without ``results.jsonl`` its Parquet twin is read (an archive).
    """
    seen: set[tuple[str, int]] = set()
    for record in iter_models(Path(results_path), RunRecord):
        key = (record.sample_id, record.repeat)
        if key in seen:
            continue
        seen.add(key)
        yield record
