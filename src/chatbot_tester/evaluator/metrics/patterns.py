"""Substring and pattern assertions: the ``contains`` family, ``starts_with`` and ``regex``.

``contains``, ``icontains``, ``contains_any``, ``contains_all`` and ``starts_with`` check the
configured ``value``/``values`` or, when none is given, the sample's expected answers (any of
them, as they are alternatives; all of them for ``contains_all``). ``not_contains`` needs its
own values.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import signal
import threading
from types import FrameType
from typing import Any, ClassVar, Literal

import regex
from pydantic import Field, field_validator, model_validator

from chatbot_tester.common.redact import mask_secrets
from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.metrics.base import MetricContext, MetricInput, MetricOptions
from chatbot_tester.evaluator.metrics.helpers import (
    AnswerMetric,
    bool_score,
    missing_reference,
    verdict,
)

__all__ = [
    "ContainsAllMetric",
    "ContainsAnyMetric",
    "ContainsMetric",
    "ContainsOptions",
    "IContainsMetric",
    "NotContainsMetric",
    "RegexMetric",
    "StartsWithMetric",
]


def _short(text: str, limit: int = 60) -> str:
    text = mask_secrets(text)  # before the cut: a truncated secret is still a leak
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ContainsOptions(MetricOptions):
    """Options of the substring metrics."""

    value: str | None = Field(default=None)
    """One string to look for."""
    values: list[str] | None = Field(default=None)
    """Several strings to look for."""
    ignore_case: bool = False
    """Compare case-insensitively."""

    @model_validator(mode="after")
    def _not_both(self) -> ContainsOptions:
        if self.value is not None and self.values is not None:
            raise ValueError("give either 'value' or 'values', not both")
        if self.values is not None and not self.values:
            raise ValueError("'values' must not be empty")
        return self

    def needles(self, item: MetricInput) -> list[str]:
        """The configured strings, else the expected answers."""
        if self.value is not None:
            return [self.value]
        if self.values is not None:
            return list(self.values)
        return list(item.expected)


class IContainsOptions(ContainsOptions):
    """Options of ``icontains`` (case-insensitive by default)."""

    ignore_case: bool = True
    """Compare case-insensitively."""


class _SubstringMetric(AnswerMetric[ContainsOptions]):
    """Shared logic: find which needles occur in the answer."""

    Options = ContainsOptions
    mode: ClassVar[Literal["any", "all", "none"]] = "any"
    needs_values: ClassVar[bool] = False

    def __init__(self, options: ContainsOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        if self.needs_values and options.value is None and options.values is None:
            raise ConfigError(f"metric '{name}': set 'value' or 'values' (the strings to forbid)")

    def check(self, item: MetricInput, output: str) -> Score:
        """Look for each needle in the answer."""
        opts = self.options
        needles = opts.needles(item)
        if not needles:
            return missing_reference(self, item)
        hay = output.casefold() if opts.ignore_case else output
        found = [n for n in needles if (n.casefold() if opts.ignore_case else n) in hay]
        missing = [n for n in needles if n not in found]
        if self.mode == "none":
            ok = not found
            reason = "none found" if ok else "found " + ", ".join(f"'{_short(n)}'" for n in found)
            return bool_score(self, item, ok, reason, {"found": found})
        if self.mode == "all":
            ok = not missing
            reason = (
                "all found" if ok else "missing " + ", ".join(f"'{_short(n)}'" for n in missing)
            )
            value = len(found) / len(needles)
            passed = verdict(self, value, ok)
            return self.make(item, value, passed, reason=reason, details={"missing": missing})
        ok = bool(found)
        reason = (
            f"found '{_short(found[0])}'"
            if ok
            else "none of " + ", ".join(f"'{_short(n)}'" for n in needles) + " found"
        )
        return bool_score(self, item, ok, reason)


class ContainsMetric(_SubstringMetric):
    """1 when the answer contains the value (or any of the values / expected answers)."""

    description = "Answer contains the value (or any of the values, or an expected answer)."


class IContainsMetric(_SubstringMetric):
    """``contains``, case-insensitive."""

    Options = IContainsOptions
    description = "Answer contains the value, ignoring case."


class ContainsAnyMetric(_SubstringMetric):
    """1 when the answer contains at least one of the values."""

    description = "Answer contains at least one of the values."


class ContainsAllMetric(_SubstringMetric):
    """Fraction of the values found in the answer; passes when all are found."""

    mode = "all"
    description = "Answer contains every one of the values (value = fraction found)."


class NotContainsMetric(_SubstringMetric):
    """1 when the answer contains none of the values."""

    mode = "none"
    needs_values = True
    description = "Answer contains none of the values."


class StartsWithOptions(ContainsOptions):
    """Options of ``starts_with``."""

    strip: bool = True
    """Ignore leading whitespace in the answer."""


class StartsWithMetric(AnswerMetric[StartsWithOptions]):
    """1 when the answer starts with the value (or any of the values / expected answers)."""

    Options = StartsWithOptions
    description = "Answer starts with the value (or any of the values)."

    def check(self, item: MetricInput, output: str) -> Score:
        """Compare the answer's beginning with each prefix."""
        opts = self.options
        prefixes = opts.needles(item)
        if not prefixes:
            return missing_reference(self, item)
        text = output.lstrip() if opts.strip else output
        if opts.ignore_case:
            text = text.casefold()
        for p in prefixes:
            if text.startswith(p.casefold() if opts.ignore_case else p):
                return bool_score(self, item, True, f"starts with '{_short(p)}'")
        return bool_score(self, item, False, f"starts with '{_short(text, 40)}'")


_FLAG_NAMES = {
    "i": regex.IGNORECASE,
    "ignorecase": regex.IGNORECASE,
    "m": regex.MULTILINE,
    "multiline": regex.MULTILINE,
    "s": regex.DOTALL,
    "dotall": regex.DOTALL,
    "x": regex.VERBOSE,
    "verbose": regex.VERBOSE,
    "a": regex.ASCII,
    "ascii": regex.ASCII,
}


def parse_flags(flags: str | list[str]) -> int:
    """``"im"`` or ``["IGNORECASE", "MULTILINE"]`` -> combined ``regex`` flags (ValueError if unknown)."""
    names = list(flags) if isinstance(flags, str) else [f.lower() for f in flags]
    result = 0
    for n in names:
        if n.lower() not in _FLAG_NAMES:
            raise ValueError(f"unknown regex flag '{n}' (use i, m, s, x, a)")
        result |= int(_FLAG_NAMES[n.lower()])
    return result


_MAIN_THREAD = threading.main_thread()
try:  # CPython's C module: no enum wrapping, ~20x faster than ``signal.signal``
    _signal: Any = importlib.import_module("_signal")
except ImportError:  # pragma: no cover - other interpreters
    _signal = signal


_stopped: list[asyncio.AbstractEventLoop | None] = [None]
"""The event loop whose run a stop signal interrupted during a search (no search starts there)."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _SearchInterrupted(Exception):
    """SIGINT arrived during a regex search (raised by the temporary handler)."""


def _search(pattern: regex.Pattern[str], text: str, timeout: float) -> regex.Match[str] | None:
    """``pattern.search`` within ``timeout``, stopped at once by SIGINT, SIGTERM or SIGHUP.

    Searches run inline on the event loop, where asyncio's SIGINT handler only asks for the main
    task to be cancelled, which cannot happen before the search returns (up to ``timeout``).
    During a search the handler also raises, so the ``regex`` module's periodic signal check
    ends it; the cancellation asked for is then delivered here as ``CancelledError`` (the run is
    saved as interrupted like any Ctrl-C), or ``KeyboardInterrupt`` outside an event loop.
    Handlers can only be set on the main thread; ``_signal`` keeps the swap under a microsecond.
    """
    if threading.current_thread() is not _MAIN_THREAD:
        return pattern.search(text, timeout=timeout)
    loop = _running_loop()
    if loop is not None and loop is _stopped[0]:
        # this loop was asked to stop during an earlier search: do not start another one
        # (scored inline as records land, the next record's search would hold the loop again)
        raise asyncio.CancelledError
    previous = _signal.getsignal(signal.SIGINT)
    if not callable(previous) or previous is signal.default_int_handler:
        # SIG_IGN stays ignored; the default handler already raises KeyboardInterrupt.
        return pattern.search(text, timeout=timeout)
    handler = previous

    def stop(signum: int, frame: FrameType | None) -> None:
        handler(signum, frame)  # asyncio's: cancel the main task (a second one raises)
        raise _SearchInterrupted

    _signal.signal(signal.SIGINT, stop)
    try:
        return pattern.search(text, timeout=timeout)
    except _SearchInterrupted:
        if loop is None:
            raise KeyboardInterrupt from None
        _stopped[0] = loop
        raise asyncio.CancelledError from None
    finally:
        _signal.signal(signal.SIGINT, previous)


def _compile(pattern: str, flags: int = 0) -> regex.Pattern[str]:
    """Compile with the ``regex`` module (``re`` syntax; VERSION0), ValueError when invalid."""
    try:
        return regex.compile(pattern, flags | regex.VERSION0)
    except (regex.error, re.error) as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


class RegexOptions(MetricOptions):
    """Options of ``regex``."""

    pattern: str
    """Python regular expression searched anywhere in the answer."""
    flags: str | list[str] = ""
    """Regex flags: letters like ``"im"`` or names like ``[IGNORECASE, DOTALL]``."""
    must_match: bool = True
    """Pass when the pattern matches (``false``: pass when it does not)."""
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    """Time budget of one search; a pattern that backtracks longer (ReDoS) is a metric error."""

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, v: str) -> str:
        _compile(v)
        return v

    @field_validator("flags")
    @classmethod
    def _valid_flags(cls, v: str | list[str]) -> str | list[str]:
        parse_flags(v)
        return v

    @model_validator(mode="after")
    def _compiles(self) -> RegexOptions:
        _compile(self.pattern, parse_flags(self.flags))
        return self


class RegexMetric(AnswerMetric[RegexOptions]):
    """1 when the pattern matches the answer (or does not, with ``must_match: false``).

    Searches run in the ``regex`` module with a time budget (``timeout_s``): a catastrophic
    pattern such as ``(a+)+$`` becomes an error Score instead of a hang, and the module checks
    for signals while matching, so Ctrl-C always interrupts it.
    """

    Options = RegexOptions
    description = "Answer matches a regular expression (or must not match)."

    def __init__(self, options: RegexOptions, *, name: str, context: MetricContext) -> None:
        super().__init__(options, name=name, context=context)
        self._regex = _compile(options.pattern, parse_flags(options.flags))

    def check(self, item: MetricInput, output: str) -> Score:
        """Search the pattern in the answer, within the time budget."""
        opts = self.options
        try:
            m = _search(self._regex, output, opts.timeout_s)
        except TimeoutError:
            return self.make(
                item,
                error=f"regex search exceeded its {opts.timeout_s:g} s budget "
                "(a pattern that backtracks catastrophically? raise timeout_s or simplify it)",
            )
        if opts.must_match:
            reason = f"matched '{_short(m.group(0))}'" if m else "no match"
            return bool_score(self, item, m is not None, reason)
        reason = f"unexpected match '{_short(m.group(0))}'" if m else "no match, as required"
        return bool_score(self, item, m is None, reason)
