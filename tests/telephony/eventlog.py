"""Test helper: record an engine's event stream and wait for particular events."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from callvault.telephony import CallEvent, CallId, Engine

E = TypeVar("E", bound=CallEvent)


class EventLog:
    """Collects every event an engine publishes from construction on."""

    def __init__(self, engine: Engine) -> None:
        self.events: list[CallEvent] = []
        self._changed = asyncio.Event()
        self._stream = engine.events()  # subscribes now, so nothing is missed
        self._task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for event in self._stream:
            self.events.append(event)
            self._changed.set()

    async def wait_for(self, kind: type[E], call_id: CallId | None = None, *, nth: int = 1) -> E:
        """The ``nth`` event of type ``kind`` (for ``call_id`` if given), waiting for it if needed."""
        while True:
            found = self.of(kind, call_id)
            if len(found) >= nth:
                return found[nth - 1]
            self._changed.clear()
            await self._changed.wait()

    def of(self, kind: type[E], call_id: CallId | None = None) -> list[E]:
        """Events of type ``kind`` so far (for ``call_id`` if given)."""
        return [e for e in self.events if isinstance(e, kind) and (call_id is None or e.call_id == call_id)]

    def names(self, call_id: CallId) -> list[str]:
        """Dotted names of the events of one leg, in order."""
        return [e.name for e in self.events if e.call_id == call_id]

    async def close(self) -> None:
        """Stop collecting (the engine's close ends the stream; this covers an engine left open)."""
        self._task.cancel()
