"""The Ray driver's relay of worker progress events to its event bus, one event per record.

Workers push their ``ItemFinished`` / ``RetryScheduled`` events to the coordinator actor in
batches; the driver drains them every so often and re-emits them on its bus. A worker that
dies may have written records whose events never left it: when its part file is merged, the
relay emits the missing ones from the records themselves, and drops late events of an attempt
already merged. Only the attempts running hold state (their item ids), so memory stays
bounded by ``num_workers`` shards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatbot_tester.common.events import ItemFinished

if TYPE_CHECKING:
    from chatbot_tester.common.events import EventBus

__all__ = ["EventRelay"]


class EventRelay:
    """Re-emits the workers' events; fills in those of records merged from a dead worker."""

    def __init__(self, bus: EventBus | None, coordinator: Any, repeat: int) -> None:
        self.bus = bus
        self.coordinator = coordinator
        self.repeat = repeat
        self._announced: dict[str, set[str]] = {}
        """Item ids whose progress event arrived, per running attempt."""
        self._closed: set[str] = set()
        """Attempts already merged (late events of theirs are dropped)."""

    async def drain(self) -> None:
        """Emit the events the workers pushed since the last call."""
        events = await self.coordinator.drain.remote()
        bus = self.bus
        for token, event in events:
            if token in self._closed:
                continue
            if isinstance(event, ItemFinished):
                self._announced.setdefault(token, set()).add(event.item_id)
            if bus is not None:
                bus.emit(event)

    def merged(self, token: str, obj: dict[str, Any]) -> None:
        """Emit the progress event of a merged record whose worker died before sending it."""
        sid, repeat = obj.get("sample_id"), obj.get("repeat") or 0
        item_id = str(sid) if self.repeat == 1 else f"{sid}#{repeat}"
        if self.bus is None or item_id in self._announced.get(token, ()):
            return
        error = obj.get("error")
        latency = obj.get("latency_ms")
        self.bus.emit(
            ItemFinished(
                "run",
                item_id,
                error is None,
                cached=bool(obj.get("cached")),
                error_kind=str(error.get("kind")) if isinstance(error, dict) else None,
                latency_ms=float(latency) if isinstance(latency, (int, float)) else None,
                backend=obj.get("backend"),
                model=obj.get("model"),
            )
        )

    def close(self, token: str) -> None:
        """The attempt ``token`` is merged: forget its ids, drop its late events."""
        self._closed.add(token)
        self._announced.pop(token, None)
