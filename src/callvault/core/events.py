"""The event bus port and its in-process implementation.

Subjects are dotted and tenant-scoped (``t.{tenant}.user.created``); subscriptions use NATS-style wildcards
(``*`` one token, ``>`` the rest), so the JetStream implementation can take the same subjects unchanged.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    subject: str
    tenant_id: uuid.UUID
    payload: dict[str, Any]
    created_at: datetime


Handler = Callable[[Event], None]


class EventBus(Protocol):
    def publish(self, event: Event) -> None: ...
    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]: ...


def subject_matches(pattern: str, subject: str) -> bool:
    pat, sub = pattern.split("."), subject.split(".")
    for i, part in enumerate(pat):
        if part == ">":
            return len(sub) > i
        if i >= len(sub) or (part != "*" and part != sub[i]):
            return False
    return len(pat) == len(sub)


@dataclass
class InProcessEventBus:
    """Delivers synchronously to subscribers in this process; a failing subscriber never blocks the others."""

    _subs: list[tuple[str, Handler]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subs)
        for pattern, handler in subs:
            if subject_matches(pattern, event.subject):
                try:
                    handler(event)
                except Exception:
                    log.exception("event subscriber failed", subject=event.subject, event_id=str(event.id))

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        entry = (pattern, handler)
        with self._lock:
            self._subs.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)

        return unsubscribe
