"""Fan-out of the routing owners' changes to live listeners (agent desktops, wallboard streams).

Owners publish from worker threads; each listener lives on an event loop and gets the events through its own
bounded asyncio queue. A subscription is keyed by institution (and optionally by agent), so an event can only
ever reach listeners of the institution it belongs to.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

# A listener that stops reading loses its oldest events rather than holding the owner's memory.
MAX_PENDING = 1000


@dataclass(frozen=True)
class AcdEvent:
    tenant_id: uuid.UUID
    kind: str  # agent_state | offer | call_ended | changed
    agent_id: uuid.UUID | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Subscription:
    def __init__(self, hub: EventHub, tenant_id: uuid.UUID, agent_id: uuid.UUID | None) -> None:
        self.hub, self.tenant_id, self.agent_id = hub, tenant_id, agent_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[AcdEvent] = asyncio.Queue()

    def wants(self, event: AcdEvent) -> bool:
        return event.tenant_id == self.tenant_id and (self.agent_id is None or event.agent_id in (None, self.agent_id))

    def deliver(self, event: AcdEvent) -> None:
        try:
            self.loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # the listener's loop is closed: it is going away
            self.close()

    def _put(self, event: AcdEvent) -> None:
        if self.queue.qsize() >= MAX_PENDING:
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def next(self, within: float | None = None) -> AcdEvent | None:
        """The next event, or None after `within` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            return None

    def drain(self) -> list[AcdEvent]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    def close(self) -> None:
        self.hub.unsubscribe(self)


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[uuid.UUID, set[Subscription]] = {}

    def subscribe(self, tenant_id: uuid.UUID, agent_id: uuid.UUID | None = None) -> Subscription:
        """Listen to one institution's events (only one agent's, if `agent_id`); call from the listener's loop."""
        sub = Subscription(self, tenant_id, agent_id)
        with self._lock:
            self._subs.setdefault(tenant_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.get(sub.tenant_id, set()).discard(sub)

    def listeners(self, tenant_id: uuid.UUID) -> int:
        with self._lock:
            return len(self._subs.get(tenant_id, ()))

    def publish(self, events: list[AcdEvent]) -> None:
        if not events:
            return
        with self._lock:
            subs = {t: list(s) for t, s in self._subs.items()}
        for event in events:
            for sub in subs.get(event.tenant_id, ()):
                if sub.wants(event):
                    sub.deliver(event)
