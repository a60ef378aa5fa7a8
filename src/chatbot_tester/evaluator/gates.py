"""CI gates: ``exact_match.pass_rate >= 0.8`` checked against a run's ``report.json``.

A gate is ``<path> <op> <number>``. The path is looked up as ``metrics.<name>.<stat>`` first
(metric names may contain ``:``), then as a top-level section (``latency.p95``,
``cost.total``, ``totals.errors``, ``tags.<tag>.<metric>.<stat>``). A gate that cannot be
evaluated (unknown metric or stat, no value) fails, with a message listing what exists.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.errors import ConfigError

__all__ = [
    "METRIC_STATS",
    "OPERATORS",
    "SECTION_STATS",
    "GateResult",
    "check_gate_names",
    "check_gates",
    "parse_gate",
]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
"""Comparison operators a gate may use."""

_GATE = re.compile(
    r"^\s*(?P<path>[^\s<>=!]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
METRIC_STATS = frozenset(
    {
        "mean", "ci_low", "ci_high", "pass_rate", "pass_ci_low", "pass_ci_high", "passed",
        "failed", "scored", "total", "errors", "unstable", "samples", "flaky", "flip_rate",
    }
)  # fmt: skip
"""Stats report.json gives every metric (``<metric>.<stat>``)."""
_DISTRIBUTION = frozenset({"mean", "p50", "p95", "p99", "count"})
SECTION_STATS: dict[str, frozenset[str]] = {
    "latency": _DISTRIBUTION,
    "ttft": _DISTRIBUTION,
    "tokens": frozenset({"prompt", "completion", "total", "estimated"}),
    "cost": frozenset({"total", "known", "unknown"}),
    "totals": frozenset({"samples", "records", "ok", "errors", "missing", "repeats", "error_rate"}),
}
"""Stats of the top-level report sections a gate may name."""
_COUNTS = frozenset({"total", "scored", "errors", "passed", "failed", "samples", "unstable"})
"""Metric counters that must not shadow a report section's figure of the same name."""
_EXAMPLE = "e.g. 'exact_match.pass_rate >= 0.8' or 'latency.p95 <= 2000'"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate."""

    expr: str
    """The gate as written."""
    passed: bool
    """Whether the run meets it (a gate that cannot be evaluated fails)."""
    actual: float | None
    """The value found in the report (``None`` when missing)."""
    message: str
    """One line: ``gate failed: <expr> (actual 0.72)`` or why it could not be evaluated."""


def parse_gate(expr: str) -> tuple[str, str, float]:
    """Split a gate into ``(path, op, number)``; ConfigError naming the expression and the fix."""
    m = _GATE.match(expr)
    if m is None:
        ops = ", ".join(OPERATORS)
        raise ConfigError(
            f"invalid gate {expr!r}: write '<metric>.<stat> <op> <number>' "
            f"with op one of {ops} ({_EXAMPLE})"
        )
    path = m.group("path")
    if "." not in path.strip(".") or path.startswith(".") or path.endswith(".") or ".." in path:
        raise ConfigError(
            f"invalid gate {expr!r}: the left side must be "
            f"'<metric or section>.<stat>' ({_EXAMPLE})"
        )
    return path, m.group("op"), float(m.group("value"))


def check_gate_names(expr: str, labels: set[str]) -> None:
    """ConfigError with a did-you-mean when a gate names a stat report.json will not have.

    ``labels`` are the configured metric labels; ``<metric>.<stat>`` must use a metric stat,
    ``<section>.<stat>`` a stat of that section. Other paths (tags, per-turn metrics,
    sample assertions, errors_by_kind) are left to the run.
    """
    path, _, _ = parse_gate(expr)
    name, _, stat = path.rpartition(".")
    allowed: set[str] = set()
    if name in labels:
        allowed |= METRIC_STATS
    if name in SECTION_STATS:
        allowed |= SECTION_STATS[name]
    if allowed and stat not in allowed:
        raise ConfigError(
            f"gate {expr!r}: '{name}' has no stat '{stat}' ({did_you_mean(stat, allowed)}; "
            f"has: {', '.join(sorted(allowed))})"
        )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _lookup(path: str, summary: Mapping[str, Any]) -> tuple[Any, str | None]:
    """``(value, None)`` when found, else ``(None, reason listing what exists)``.

    A metric's stat wins over a section of the same name, except the metric's counters
    (``total``, ``errors``...), which never shadow a section's figure (``cost.total`` reads
    dollars with a ``cost`` metric configured); a metric without that stat falls through.
    """
    metrics = summary.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    name, _, stat = path.rpartition(".")
    metric_problem: str | None = None
    section = summary.get(name) if name != "metrics" else None
    if stat in _COUNTS and isinstance(section, Mapping) and stat in section:
        return section[stat], None  # cost.total is dollars, not the cost metric's score count
    if name in metrics and isinstance(metrics[name], Mapping):
        stats = metrics[name]
        if stat in stats:
            return stats[stat], None
        available = ", ".join(sorted(stats))
        metric_problem = (
            f"metric '{name}' has no stat '{stat}' ({did_you_mean(stat, stats)}; has: {available})"
        )
    node: Any = summary
    walked: list[str] = []
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            walked.append(part)
            continue
        if metric_problem is not None:
            return None, metric_problem
        if not walked:
            names = sorted(metrics)
            sections = sorted(
                k for k, v in summary.items() if isinstance(v, Mapping) and k != "metrics"
            )
            hint = did_you_mean(name, [*names, *sections])
            return None, (
                f"unknown metric or section '{name}' ({hint}; metrics: {', '.join(names) or 'none'}; "
                f"sections: {', '.join(sections) or 'none'})"
            )
        where = ".".join(walked)
        keys = sorted(node) if isinstance(node, Mapping) else []
        return None, (
            f"'{where}' has no '{part}' ({did_you_mean(part, keys)}; has: {', '.join(keys) or 'nothing'})"
        )
    return node, None


def _check(expr: str, summary: Mapping[str, Any]) -> GateResult:
    try:
        path, op, target = parse_gate(expr)
    except ConfigError as exc:
        return GateResult(expr, False, None, f"gate failed: {exc.message}")
    raw, problem = _lookup(path, summary)
    if problem is not None:
        return GateResult(expr, False, None, f"gate failed: {expr} ({problem})")
    actual = _number(raw)
    if actual is None or math.isnan(actual):
        shown = "null" if raw is None else repr(raw)
        return GateResult(expr, False, None, f"gate failed: {expr} (no value: {path} is {shown})")
    passed = OPERATORS[op](actual, target)
    verdict = "passed" if passed else "failed"
    return GateResult(expr, passed, actual, f"gate {verdict}: {expr} (actual {_fmt(actual)})")


def check_gates(thresholds: list[str], summary: dict[str, Any]) -> list[GateResult]:
    """Evaluate every gate against a ``report.json`` summary, in order; one result each."""
    return [_check(expr, summary) for expr in thresholds]
