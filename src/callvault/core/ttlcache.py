"""A small per-process cache of values that rarely change, each entry kept for a bounded time.

For look-ups on the hot path whose answer changes only through an action function of this process (which drops
the entry after its commit) or, in another process, at most `ttl` seconds late: the cache never holds anything a
request must see at once (an API client's status, a do-not-call entry).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Thread-safe mapping whose entries expire `ttl` seconds after they were stored; at most `size` entries."""

    def __init__(self, *, ttl: float, size: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self._clock = ttl, size, clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes with every `forget`: read it before a look-up and pass it to `put`, so a value read before an
        invalidation is not stored after it."""
        return self._generation

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def put(self, key: K, value: V, *, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            if len(self._entries) >= self.size:
                self._entries.clear()  # simpler than LRU: a full cache only costs one round of look-ups
            self._entries[key] = (self._clock() + self.ttl, value)

    def forget(self, key: K | None = None) -> None:
        """Drop one entry, or every entry."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
