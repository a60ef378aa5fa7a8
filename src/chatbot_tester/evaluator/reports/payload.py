"""The compact per-sample data embedded in ``report.html`` (short keys, long texts capped).

One row per run record (plus one per dataset sample that has no record), in the order the
rows arrive (the page sorts them by ``o``, the dataset position, and ``k``): ``i`` id, ``o`` position, ``k`` repeat, ``g`` tags, ``st`` status (pass/fail/error/missing), ``q`` input,
``c`` conversation ``[role, text, expected?]``, ``e`` expected, ``a`` answer, ``x`` error,
``l`` latency ms, ``f`` TTFT ms, ``t`` tokens, ``$`` cost, ``n`` attempts, ``m`` model,
``s`` scores ``[metric index, turn, value, passed, reason, error, details]``.
"""

from __future__ import annotations

from typing import Any

from chatbot_tester.common.redact import mask_secrets
from chatbot_tester.common.schemas import RunRecord, Score, TestSample
from chatbot_tester.evaluator.reports.base import Row

__all__ = ["DEFAULT_MAX_TEXT", "cap_text", "row_payload"]

DEFAULT_MAX_TEXT = 20_000
"""Characters kept of any one text; the rest is replaced by a visible marker."""


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much was dropped."""
    if len(text) <= limit:
        return text
    text = mask_secrets(text)  # before the cut (the whole payload is masked when written)
    return f"{text[:limit]}… [truncated {len(text) - limit} characters]"


def _cap(value: Any, limit: int, depth: int = 0) -> Any:
    if isinstance(value, str):
        return cap_text(value, limit)
    if depth > 6:
        return cap_text(repr(value), limit)
    if isinstance(value, dict):
        return {str(k): _cap(v, limit, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cap(v, limit, depth + 1) for v in value[:200]]
    return value


def _expected(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _conversation(sample: TestSample, record: RunRecord | None, limit: int) -> list[list[Any]]:
    conv: list[list[Any]] = []
    if sample.turns is None:
        conv = [[m.role, cap_text(m.content, limit)] for m in sample.input_messages()]
        if record is not None and record.response is not None:
            conv.append(["assistant", cap_text(record.response.text, limit)])
        return conv
    turns = (record.turns if record is not None else None) or []
    for i, turn in enumerate(sample.turns):
        conv.append(["user", cap_text(turn.user, limit)])
        expected = [cap_text(e, limit) for e in _expected(turn.expected)]
        tr = turns[i] if i < len(turns) else None
        if tr is not None and tr.response is not None:
            conv.append(["assistant", cap_text(tr.response.text, limit), expected])
        elif tr is not None and tr.error is not None:
            conv.append(
                ["error", f"{tr.error.kind.value}: {cap_text(tr.error.message, limit)}", expected]
            )
        elif record is not None:
            conv.append(["error", "not sent (an earlier turn failed)", expected])
    return conv


def _status(record: RunRecord | None, scores: list[list[Any]]) -> str:
    if record is None:
        return "missing"
    if not record.ok:
        return "error"
    if any(s[3] == 0 or s[5] is not None for s in scores):
        return "fail"
    return "pass"


def _row(
    ordinal: int, sample: TestSample, record: RunRecord | None, scores: list[list[Any]], limit: int
) -> dict[str, Any]:
    row: dict[str, Any] = {"i": sample.id, "o": ordinal, "st": _status(record, scores)}
    if sample.tags:
        row["g"] = sample.tags
    first = sample.input_messages()
    users = [m.content for m in first if m.role == "user"]
    row["q"] = cap_text(users[-1] if users else (first[-1].content if first else ""), limit)
    row["c"] = _conversation(sample, record, limit)
    expected = sample.expected_list()
    if expected:
        row["e"] = [cap_text(e, limit) for e in expected]
    if scores:
        row["s"] = scores
    if record is None:
        row["x"] = "no record: this sample was not run (or the run was interrupted)"
        return row
    if record.repeat:
        row["k"] = record.repeat
    if record.response is not None:
        row["a"] = cap_text(record.response.text, limit)
    if record.error is not None:
        row["x"] = f"{record.error.kind.value}: {cap_text(record.error.message, limit)}"
        if record.error.status_code is not None:
            row["x"] += f" (HTTP {record.error.status_code})"
    for key, value in (
        ("l", record.latency_ms),
        ("f", record.ttft_ms),
        ("t", record.usage.total_tokens if record.usage is not None else None),
        ("$", record.cost_usd),
        ("m", record.model),
    ):
        if value is not None:
            row[key] = value
    if record.attempts != 1:
        row["n"] = record.attempts
    if record.cached:
        row["ca"] = 1
    return row


def _score_entry(score: Score, index: int, limit: int) -> list[Any]:
    passed = None if score.passed is None else int(score.passed)
    return [
        index,
        score.turn,
        score.value,
        passed,
        cap_text(score.reason, limit) if score.reason else None,
        cap_text(score.error, limit) if score.error else None,
        _cap(score.details, limit) if score.details else None,
    ]


def row_payload(
    row: Row, metric_index: dict[str, int], limit: int = DEFAULT_MAX_TEXT
) -> dict[str, Any]:
    """The compact form of one row; metrics not yet in ``metric_index`` get the next index."""
    scores = []
    for score in row.scores:
        i = metric_index.get(score.metric)
        if i is None:
            i = metric_index[score.metric] = len(metric_index)
        scores.append(_score_entry(score, i, limit))
    scores.sort(key=lambda s: (s[1] is not None, s[1] or 0, s[0]))
    return _row(row.position, row.sample, row.record, scores, limit)
