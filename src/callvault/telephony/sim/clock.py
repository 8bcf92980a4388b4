"""Virtual clock for the sim engine: time moves only when the simulation is driven."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    """A callback due at ``due`` virtual seconds; ``cancel`` makes it a no-op."""

    due: float
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class VirtualClock:
    """A heap of timers over virtual time; ties fire in the order they were scheduled."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[Timer] = []
        self._order = itertools.count()

    @property
    def now(self) -> float:
        """Current virtual time in seconds."""
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` ``delay`` seconds from now (``delay`` < 0 counts as 0)."""
        timer = Timer(self._now + max(delay, 0.0), next(self._order), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def next_due(self) -> float | None:
        """When the next live timer is due, or ``None`` if none is pending."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    def fire_next(self) -> bool:
        """Move time to the next live timer and run it; ``False`` if there was none."""
        if self.next_due() is None:
            return False
        timer = heapq.heappop(self._timers)
        self._now = max(self._now, timer.due)
        timer.callback()
        return True

    def move_to(self, when: float) -> None:
        """Move time forward to ``when`` without running timers (callers fire due timers first)."""
        self._now = max(self._now, when)
