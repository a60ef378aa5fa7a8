"""``tool_call``: the answer requested the expected function call(s).

The expected call comes from the options (``function`` or ``name``, + ``arguments``), else from the sample's
metadata (``expected_tool_call`` / ``expected_tool_calls``: ``{"name": ..., "arguments":
{...}}`` or a list of them), else from the expected answer written as that JSON. Arguments
match as a subset (every expected key present with an equal value, recursively) or exactly.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot_tester.common.schemas import Score, ToolCall
from chatbot_tester.evaluator.metrics.base import MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.helpers import (
    AnswerMetric,
    missing_reference,
    response_for,
    verdict,
)
from chatbot_tester.evaluator.metrics.structured import json_diff

__all__ = ["ExpectedCall", "ToolCallMetric", "arguments_match"]


class ExpectedCall(BaseModel):
    """One expected tool call."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Function name."""
    arguments: dict[str, Any] | None = None
    """Expected arguments (``None``: any arguments)."""


def _subset_diff(expected: Any, actual: Any, path: str) -> str | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            if k not in actual:
                return f"{path}.{k}: missing"
            d = _subset_diff(v, actual[k], f"{path}.{k}")
            if d:
                return d
        return None
    return json_diff(actual, expected, path)


def arguments_match(
    expected: dict[str, Any], actual: dict[str, Any] | str, match: Literal["subset", "exact"]
) -> str | None:
    """``None`` when ``actual`` matches ``expected``, else the first difference."""
    if isinstance(actual, str):
        try:
            actual = json.loads(actual)
        except ValueError:
            return "arguments are not valid JSON"
        if not isinstance(actual, dict):
            return "arguments are not a JSON object"
    if match == "exact":
        return json_diff(actual, expected, "arguments")
    return _subset_diff(expected, actual, "arguments")


class ToolCallOptions(MetricOptions):
    """Options of ``tool_call``."""

    function: str | None = None
    """Expected function name (default: from the sample's metadata or expected answer).

    In a pipeline ``name`` is the metric's report label; a ``tool_call`` given only ``name``
    uses it as ``function`` as well."""
    name: str | None = None
    """Same as ``function`` (for options given in code)."""
    arguments: dict[str, Any] | None = None
    """Expected arguments (with ``function``)."""
    match: Literal["subset", "exact"] = "subset"
    """subset: expected keys present with equal values; exact: arguments equal."""
    calls: list[ExpectedCall] | None = Field(default=None)
    """Several expected calls, all required (any order)."""


def _expected_from_sample(item: MetricInput) -> list[ExpectedCall] | None:
    meta = item.sample.metadata
    raw: Any = meta.get("expected_tool_calls", meta.get("expected_tool_call"))
    if raw is None:
        for ref in item.expected:
            try:
                data = json.loads(ref)
            except ValueError:
                continue
            if (isinstance(data, dict) and "name" in data) or isinstance(data, list):
                raw = data
                break
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else [raw]
    try:
        return [ExpectedCall.model_validate(x) for x in items]
    except ValidationError:
        return None


class ToolCallMetric(AnswerMetric[ToolCallOptions]):
    """Fraction of the expected tool calls the answer made; passes when all were made."""

    Options = ToolCallOptions
    description = (
        "Answer requested the expected function call(s), arguments matched as subset or exact."
    )

    def check(self, item: MetricInput, output: str) -> Score:
        """Find each expected call among the response's tool calls."""
        opts = self.options
        if opts.calls is not None:
            expected: list[ExpectedCall] | None = opts.calls
        elif (opts.function or opts.name) is not None:
            function = opts.function or opts.name
            assert function is not None
            expected = [ExpectedCall(name=function, arguments=opts.arguments)]
        else:
            expected = _expected_from_sample(item)
        if not expected:
            return missing_reference(self, item, "expected tool call")
        response = response_for(item)
        actual: list[ToolCall] = list(response.tool_calls) if response is not None else []
        problems: list[str] = []
        matched = 0
        used: set[int] = set()
        for exp in expected:
            why = f"no call to '{exp.name}'"
            for i, call in enumerate(actual):
                if i in used or call.name != exp.name:
                    continue
                diff = None
                if exp.arguments is not None:
                    diff = arguments_match(exp.arguments, call.arguments, opts.match)
                if diff is None:
                    used.add(i)
                    matched += 1
                    break
                why = f"'{exp.name}' {diff}"
            else:
                problems.append(why)
        value = matched / len(expected)
        ok = not problems
        called = ", ".join(c.name for c in actual) or "none"
        reason = "all expected calls made" if ok else "; ".join(problems) + f" (called: {called})"
        return self.make(
            item,
            value,
            verdict(self, value, ok),
            reason=reason,
            details={"called": [c.name for c in actual]},
        )
