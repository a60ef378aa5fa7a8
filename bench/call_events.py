"""Cost of ``BackendClient.call`` on a no-op backend, with and without call events.

Prints microseconds per call for: no bus; a bus with one plain subscriber (the default
runner setup: no ``CallFinished`` is built); a bus with a subscriber that asks for call
events (``wants_call_events = True``, what the OpenTelemetry subscriber does), and the
ratios to the first. Usage: python bench/call_events.py [--n 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.events import EventBus
from chatbot_tester.common.schemas import ChatResponse, Usage
from chatbot_tester.testing.doubles import FunctionBackend


class _Plain:
    def __call__(self, event: Any) -> None:
        pass


class _Calls(_Plain):
    wants_call_events = True


def _answer(text: str) -> ChatResponse:
    return ChatResponse(text="ok", usage=Usage(prompt_tokens=3, completion_tokens=1))


async def _per_call(bus: EventBus | None, n: int) -> float:
    backend = FunctionBackend(_answer)
    client = BackendClient(backend, bus=bus)
    await client.call("warm", "w")
    backend.calls.clear()
    t0 = time.perf_counter()
    for i in range(n):
        await client.call("hello", "s")
        if i % 1000 == 0:
            backend.calls.clear()
    return (time.perf_counter() - t0) / n * 1e6


def _bus(sub: _Plain) -> EventBus:
    bus = EventBus()
    bus.subscribe(sub)
    return bus


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "no bus": lambda: None,
        "bus, plain subscriber": lambda: _bus(_Plain()),
        "bus, call-events subscriber": lambda: _bus(_Calls()),
    }
    best: dict[str, float] = {}
    for _ in range(args.rounds):  # interleaved rounds, best of each: less noise on a busy box
        for name, make in cases.items():
            us = asyncio.run(_per_call(make(), args.n))
            best[name] = min(best.get(name, us), us)
    base = best["no bus"]
    for name, us in best.items():
        print(f"{name:30s} {us:8.2f} us/call  x{us / base:.3f}")


if __name__ == "__main__":
    main()
