"""Fan-out of engine events to any number of async subscribers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

from callvault.telephony.events import CallEvent

_END = object()


class EventStream:
    """Numbers events and delivers them, in order, to every open subscription.

    Subscriptions have unbounded queues: the engine never blocks on a slow consumer, and a consumer that
    stops reading only costs memory until it closes its iterator.
    """

    def __init__(self) -> None:
        self._seq = 0
        self._queues: list[asyncio.Queue[object]] = []
        self._closed = False

    @property
    def last_seq(self) -> int:
        """Sequence number of the last published event (0 before the first)."""
        return self._seq

    def publish(self, event: CallEvent) -> CallEvent:
        """Stamp ``event`` with the next sequence number and queue it for every subscriber."""
        if self._closed:
            return event
        self._seq += 1
        stamped = dataclasses.replace(event, seq=self._seq)
        for queue in self._queues:
            queue.put_nowait(stamped)
        return stamped

    async def subscribe(self) -> AsyncIterator[CallEvent]:
        """Yield every event published after this call, until ``close``."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        if self._closed:
            return
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                assert isinstance(item, CallEvent)
                yield item
        finally:
            self._queues.remove(queue)

    def close(self) -> None:
        """End every subscription after the events already queued."""
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(_END)
