"""The retry schedule of webhook deliveries: exponential backoff with jitter, then the dead-letter list.

Attempt 1 is sent at once; after failure n (1..MAX_ATTEMPTS-1) the next attempt waits
``min(BASE * FACTOR**(n-1), CAP)`` seconds, each spread by ±JITTER so that many deliveries failing together do
not return together. With the defaults the waits are about 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h:
8 attempts within about 7.5 hours, then the message is dead-lettered (still redeliverable by hand).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 5.0
    factor: float = 4.0
    cap_seconds: float = 6 * 3600.0
    jitter: float = 0.2

    def delay_after(self, failures: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait after the `failures`-th failed attempt, or None when the message is dead."""
        if failures >= self.max_attempts:
            return None
        nominal = min(self.base_seconds * self.factor ** (failures - 1), self.cap_seconds)
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return nominal * (1.0 + spread)


DEFAULT_POLICY = RetryPolicy()
