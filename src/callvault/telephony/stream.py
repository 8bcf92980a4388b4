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

    def subscribe(self) -> AsyncIterator[CallEvent]:
        """Yield every event published after this call, until ``close``.

        The subscription is registered here, not on first iteration, so no event published between this
        call and the first ``__anext__`` is lost.
        """
        queue: asyncio.Queue[object] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(_END)
        else:
            self._queues.append(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[object]) -> AsyncIterator[CallEvent]:
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                assert isinstance(item, CallEvent)
                yield item
        finally:
            if queue in self._queues:
                self._queues.remove(queue)

    def close(self) -> None:
        """End every subscription after the events already queued."""
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(_END)
