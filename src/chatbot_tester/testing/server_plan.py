"""Fault plans and request statistics of the fault-injecting test server.

Fault decisions are a pure function of ``(seed, conversation id, attempt number)``, so a plan
injects the same faults into the same requests however concurrent requests interleave.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_MODES", "FaultPlan", "ServerStats", "StatsSnapshot"]

FAULT_MODES: tuple[str, ...] = (
    "429",
    "429_date",
    "429_ms",
    "429_quota",
    "500",
    "503",
    "reset",
    "hang",
    "drip",
    "keepalive",
    "truncated_json",
    "error_body",
    "html",
    "401",
    "400_model",
    "stream_cut",
    "stream_reset",
    "endless_body",
)
"""Every fault the server can inject (see ``FaultPlan.modes``)."""

_SCALE = float(1 << 64)


def _unit(seed: int, conversation: str, attempt: int, salt: str) -> float:
    """A reproducible number in [0, 1) for one (conversation, attempt)."""
    digest = hashlib.blake2b(
        f"{seed}\x00{salt}\x00{attempt}\x00{conversation}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True)
class FaultPlan:
    """Which requests fail and how; seeded so that runs are reproducible.

    A request fails when its conversation is in ``always_fail_ids``, when it is one of the
    first ``fail_first`` attempts of its conversation, or with probability ``rate``. The mode
    of a failing request is picked (reproducibly) among ``modes``.
    """

    rate: float = 0.0
    """Probability that any one request fails."""
    modes: tuple[str, ...] = ("429", "500")
    """Fault modes to choose from (see ``FAULT_MODES``)."""
    seed: int = 0
    """Seed of the fault decisions."""
    fail_first: int = 0
    """The first k attempts of every distinct conversation fail."""
    always_fail_ids: frozenset[str] = field(default_factory=frozenset)
    """Conversation ids (``X-Sample-Id`` values or message hashes) that always fail."""
    retry_after_s: float = 0.05
    """Delay announced by the 429 modes (seconds)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within 0..1, got {self.rate}")
        modes = (self.modes,) if isinstance(self.modes, str) else tuple(self.modes)
        unknown = [m for m in modes if m not in FAULT_MODES]
        if unknown:
            raise ValueError(f"unknown fault mode(s) {unknown}; choose among {list(FAULT_MODES)}")
        if not modes:
            raise ValueError("a fault plan needs at least one mode")
        if self.fail_first < 0:
            raise ValueError("fail_first must be >= 0")
        object.__setattr__(self, "modes", modes)
        object.__setattr__(self, "always_fail_ids", frozenset(self.always_fail_ids))

    @property
    def active(self) -> bool:
        """True when this plan can inject any fault at all."""
        return self.rate > 0 or self.fail_first > 0 or bool(self.always_fail_ids)

    def choose(self, conversation: str, attempt: int) -> str | None:
        """The fault mode for the ``attempt``-th (1-based) request of ``conversation``, or None."""
        fails = (
            conversation in self.always_fail_ids
            or attempt <= self.fail_first
            or (self.rate > 0 and _unit(self.seed, conversation, attempt, "rate") < self.rate)
        )
        if not fails:
            return None
        if len(self.modes) == 1:
            return self.modes[0]
        pick = _unit(self.seed, conversation, attempt, "mode")
        return self.modes[int(pick * len(self.modes))]

    @classmethod
    def parse_modes(cls, text: str | Iterable[str]) -> tuple[str, ...]:
        """``"429,500"`` -> ``("429", "500")`` (whitespace ignored)."""
        items = text.split(",") if isinstance(text, str) else list(text)
        return tuple(m.strip() for m in items if m.strip())


@dataclass(frozen=True)
class StatsSnapshot:
    """A copy of the server's counters at one moment."""

    requests: int
    """Requests received on the model endpoints (faulted ones included)."""
    successes: int
    """Requests answered normally."""
    in_flight: int
    """Requests being handled right now."""
    max_in_flight: int
    """Highest number of requests handled at the same time."""
    attempts: dict[str, int]
    """Requests per conversation id."""
    faults: dict[str, int]
    """Faults injected, by mode (``unauthorized`` counts rejected credentials)."""
    endpoints: dict[str, int]
    """Requests per endpoint path."""
    connections: int = 0
    """TCP connections that carried requests to the model endpoints (keep-alive reuse shows
    as fewer connections than requests)."""
    handling_ms: dict[str, float] = field(default_factory=dict)
    """Time the server spent on the last chat completion of each conversation id, from the
    request's arrival to its answer (latency included): what a client's latency should show."""

    @property
    def total_faults(self) -> int:
        """Sum of the faults injected."""
        return sum(self.faults.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``GET /stats`` returns)."""
        return {
            "requests": self.requests,
            "successes": self.successes,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "attempts": self.attempts,
            "faults": self.faults,
            "endpoints": self.endpoints,
            "connections": self.connections,
            "handling_ms": self.handling_ms,
        }


class ServerStats:
    """Mutable counters updated on the server's event loop (cheap: a few dict operations)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter (in-flight requests keep being counted until they end)."""
        self.requests = 0
        self.successes = 0
        self.in_flight = getattr(self, "in_flight", 0)
        self.max_in_flight = self.in_flight
        self.attempts: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.endpoints: dict[str, int] = {}
        self.connections = 0
        self.handling_ms: dict[str, float] = {}
        self._transports: weakref.WeakSet[object] = weakref.WeakSet()

    def begin(self, endpoint: str, transport: object | None = None) -> None:
        """Count a request entering a model endpoint (and its connection, when new)."""
        if transport is not None and transport not in self._transports:
            self._transports.add(transport)
            self.connections += 1
        self.requests += 1
        self.endpoints[endpoint] = self.endpoints.get(endpoint, 0) + 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def end(self) -> None:
        """Count a request leaving (however it ended)."""
        self.in_flight -= 1

    def attempt(self, conversation: str) -> int:
        """Record one more attempt of ``conversation``; return its 1-based number."""
        n = self.attempts.get(conversation, 0) + 1
        self.attempts[conversation] = n
        return n

    def handled(self, conversation: str, ms: float) -> None:
        """Record how long the server took to answer ``conversation`` (its last attempt)."""
        self.handling_ms[conversation] = ms

    def fault(self, mode: str) -> None:
        """Count an injected fault."""
        self.faults[mode] = self.faults.get(mode, 0) + 1

    def snapshot(self) -> StatsSnapshot:
        """A consistent copy, safe to read from another thread."""
        return StatsSnapshot(
            requests=self.requests,
            successes=self.successes,
            in_flight=self.in_flight,
            max_in_flight=self.max_in_flight,
            attempts=self.attempts.copy(),
            faults=self.faults.copy(),
            endpoints=self.endpoints.copy(),
            connections=self.connections,
            handling_ms=self.handling_ms.copy(),
        )
