"""Events leave only after commit, carry tenant-scoped subjects, and survive a crash between commit and delivery."""

from __future__ import annotations

from sqlalchemy import select, update

from callvault.core.db import Database
from callvault.core.events import Event, InProcessEventBus, subject_matches
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import set_tenant
from callvault.identity import service as identity
from callvault.identity.schemas import UserCreate
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from tests.fixtures import PASSWORD, World


def test_subject_wildcards() -> None:
    assert subject_matches("t.*.user.created", "t.acme.user.created")
    assert subject_matches("t.acme.>", "t.acme.user.created")
    assert not subject_matches("t.acme.>", "t.acme")
    assert not subject_matches("t.*.user.created", "t.acme.user.updated")
    assert not subject_matches("t.acme", "t.acme.user")


def test_event_after_commit_only_and_marked_published(world: World, db: Database) -> None:
    inst = world.institution(roles=())
    seen: list[Event] = []
    unsubscribe = db.bus.subscribe(f"t.{inst.slug}.user.*", seen.append)
    try:
        with db.scoped() as s:
            t = tenancy.bind(s, slug=inst.slug)
            actor = system_principal(tenant_id=t.id, tenant_slug=t.slug, tenant_kind=t.kind)
            identity.create_user(
                s, actor=actor, commit=False, data=UserCreate(username="rolled-back", password=PASSWORD)
            )
            assert seen == []
            s.rollback()
        assert seen == []
        with db.scoped() as s:
            tenancy.bind(s, slug=inst.slug)
            read = identity.create_user(s, actor=actor, data=UserCreate(username="kept", password=PASSWORD))
        assert [e.subject for e in seen] == [f"t.{inst.slug}.user.created"]
        assert seen[0].payload["id"] == str(read.id) and seen[0].tenant_id == inst.id
        with db.scoped() as s:
            set_tenant(s, inst.id)
            # The first audit record of a tenant is checkpointed, and checkpoints are events as well.
            rows = [r for r in s.scalars(select(OutboxEvent)) if ".audit.checkpoint" not in r.name]
            assert [r.name for r in rows] == [f"t.{inst.slug}.user.created"]
            assert rows[0].published_at is not None
    finally:
        unsubscribe()


def test_recover_delivers_events_left_unpublished(world: World, db: Database) -> None:
    inst = world.institution(roles=("agent",))
    with db.scoped() as s:
        set_tenant(s, inst.id)
        # As if the process died between commit and delivery.
        s.execute(update(OutboxEvent).values(published_at=None))
        s.commit()
    bus = InProcessEventBus()
    seen: list[Event] = []
    bus.subscribe(f"t.{inst.slug}.>", seen.append)
    fresh = Database(db.settings, bus=bus)
    try:
        with fresh.scoped() as s:
            delivered = fresh.relay.recover(s, [inst.id])
        assert delivered == len(seen) >= 1
        with fresh.scoped() as s:
            assert fresh.relay.recover(s, [inst.id]) == 0
    finally:
        fresh.dispose()


def test_a_failing_subscriber_does_not_block_others() -> None:
    import uuid
    from datetime import UTC, datetime

    bus = InProcessEventBus()
    got: list[str] = []

    def broken(_e: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("t.>", broken)
    bus.subscribe("t.>", lambda e: got.append(e.subject))
    bus.publish(Event(uuid.uuid4(), "t.x.y", uuid.uuid4(), {}, datetime.now(UTC)))
    assert got == ["t.x.y"]
