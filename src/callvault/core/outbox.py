"""Transactional outbox: events are rows written with the change, delivered to the bus only after commit.

A crash between commit and delivery leaves rows with ``published_at`` empty; `OutboxRelay.recover` delivers them
at the next start (at-least-once; consumers dedupe on the event id).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, cast

import structlog
from sqlalchemy import Engine, Table, event, insert, select, text, update
from sqlalchemy.orm import Session

from callvault.core import clock
from callvault.core.events import Event, EventBus, subject_matches
from callvault.core.ids import new_id
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import current_tenant, set_tenant

log = structlog.get_logger(__name__)

PENDING_KEY = "callvault.pending_events"
_MARK_CHUNK = 500
RELAY_KEY = "callvault.relay"
_OUTBOX = cast(Table, OutboxEvent.__table__)


def emit(session: Session, *, tenant_slug: str, name: str, payload: dict[str, Any]) -> Event:
    """Add an event (``name`` like ``user.created``) to the current transaction."""
    tenant_id = current_tenant(session)
    ev = Event(
        id=new_id(),
        subject=f"t.{tenant_slug}.{name}",
        tenant_id=tenant_id,
        payload=payload,
        created_at=clock.now(),
    )
    # A plain insert rather than an ORM object: the row is never read back in the transaction, and the unit of
    # work cost more than the statement on busy paths. Pending objects go first (the row may name a new tenant).
    session.flush()
    session.connection().execute(
        insert(_OUTBOX),
        {
            "id": ev.id,
            "tenant_id": tenant_id,
            "name": ev.subject,
            "payload": payload,
            "published_at": None,
            "created_at": ev.created_at,
        },
    )
    session.info.setdefault(PENDING_KEY, []).append(ev)
    return ev


class OutboxRelay:
    """Publishes committed outbox rows to the bus and marks them published."""

    def __init__(self, engine: Engine, bus: EventBus) -> None:
        self.engine = engine
        self.bus = bus
        self.is_postgres = engine.dialect.name == "postgresql"
        self._consumers: list[tuple[str, Callable[[Event], None]]] = []
        # Events delivered but not yet marked published, and whether a thread is marking now: concurrent
        # deliveries hand their ids to that thread, which marks them all in one transaction.
        self._unmarked: list[tuple[uuid.UUID, uuid.UUID]] = []
        self._marking = False
        self._mark_lock = threading.Lock()

    def add_consumer(self, pattern: str, consumer: Callable[[Event], None]) -> None:
        """A delivery that must succeed (e.g. to an outside witness): while it raises, the event stays unpublished
        and `recover` delivers it again, to the bus as well (at-least-once; dedupe on the event id)."""
        self._consumers.append((pattern, consumer))

    def _consumed(self, ev: Event) -> bool:
        for pattern, consumer in self._consumers:
            if subject_matches(pattern, ev.subject):
                try:
                    consumer(ev)
                except Exception as exc:
                    log.warning("event delivery failed; retried later", subject=ev.subject, error=type(exc).__name__)
                    return False
        return True

    def deliver(self, events: list[Event]) -> int:
        """Publish the events; returns how many are done (every required consumer succeeded)."""
        done: list[tuple[uuid.UUID, uuid.UUID]] = []
        for ev in events:
            self.bus.publish(ev)
            if self._consumed(ev):
                done.append((ev.tenant_id, ev.id))
        self._mark_published(done)
        return len(done)

    def _mark_published(self, done: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Mark delivered events published. A delivery that finds another thread marking leaves its ids to that
        thread, which loops until none are left: under concurrent commits one transaction (one fsync) marks the
        events of many. Alone, a delivery marks its own at once. Marking is bookkeeping only: an event delivered
        but never marked (crash) is delivered again by `recover` (at-least-once)."""
        with self._mark_lock:
            self._unmarked.extend(done)
            if self._marking:
                return
            self._marking = True
        try:
            while True:
                with self._mark_lock:
                    batch, self._unmarked = self._unmarked, []
                    if not batch:
                        self._marking = False
                        return
                self._write_marks(batch)
        except BaseException:
            with self._mark_lock:
                self._marking = False
            raise

    def _write_marks(self, batch: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
        for tenant_id, event_id in batch:
            by_tenant.setdefault(tenant_id, []).append(event_id)
        now = clock.now()
        with self.engine.begin() as conn:
            for tenant_id, ids in by_tenant.items():
                if self.is_postgres:
                    conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
                for start in range(0, len(ids), _MARK_CHUNK):
                    chunk = ids[start : start + _MARK_CHUNK]
                    conn.execute(update(OutboxEvent).where(OutboxEvent.id.in_(chunk)).values(published_at=now))

    def recover(self, session: Session, tenant_ids: list[uuid.UUID]) -> int:
        """Deliver events committed but never published (e.g. the process died right after commit)."""
        delivered = 0
        for tenant_id in tenant_ids:
            set_tenant(session, tenant_id)
            rows = session.scalars(
                select(OutboxEvent).where(OutboxEvent.published_at.is_(None)).order_by(OutboxEvent.id)
            ).all()
            events = [
                Event(id=r.id, subject=r.name, tenant_id=r.tenant_id, payload=r.payload, created_at=r.created_at)
                for r in rows
            ]
            # End the read before delivering: delivery writes on another connection.
            session.rollback()
            if events:
                delivered += self.deliver(events)
        set_tenant(session, None)
        return delivered


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    events: list[Event] = session.info.pop(PENDING_KEY, [])
    relay: OutboxRelay | None = session.info.get(RELAY_KEY)
    if events and relay is not None:
        try:
            relay.deliver(events)
        except Exception:
            # The rows stay unpublished and the next start delivers them; the commit itself stands.
            log.exception("outbox delivery failed", count=len(events))


@event.listens_for(Session, "after_rollback")
def _drop_on_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
