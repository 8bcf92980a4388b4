"""The demo's load generator on a seeded floor: callers offered, agents moving between states, a clean stop."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from callvault.acd.models import AcdRoutingDecision
from callvault.acd.owner import AcdOwners
from callvault.core.db import Database
from callvault.demo_floor import BANK, seed_floor
from callvault.demo_load import LoadGenerator, LoadProfile
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from tests.fixtures import World

# The demo's pace, sped up about fifty times so a few seconds show a whole shift's worth of states.
FAST = LoadProfile(
    calls_per_minute=150,
    ring_seconds=(0.1, 0.4),
    talk_seconds=(0.3, 1.2),
    wrap_up_seconds=(0.1, 0.4),
    patience_seconds=3.0,
    break_probability=0.2,
    break_seconds=(0.3, 0.8),
    step_seconds=0.05,
    seed=7,
)


def test_generator_makes_the_wallboard_live_and_stops_cleanly(db: Database, world: World) -> None:
    bank = world.institution(roles=())
    seed_floor(db, slug=bank.slug, plan=BANK)
    owners = AcdOwners(db)
    owners.start()  # the app's background writer and ticker, as in `serve`
    generator = LoadGenerator(db, owners, slugs=[bank.slug], profile=FAST).start()
    mixed_states: set[str] = set()
    try:
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            time.sleep(0.25)
            stats = owners.of(bank.id, bank.slug).stats()
            states = {a["state"] for a in stats["agents"]}
            if len(states) > 1:
                mixed_states |= states
            offered = sum(q["offered_today"] for q in stats["queues"])
            if offered >= 5 and len(mixed_states) >= 3:
                break
    finally:
        generator.stop()
        owners.stop()

    assert not generator.running
    assert not [t for t in threading.enumerate() if t.name in ("demo-load", "acd-owners")]
    stats = owners.of(bank.id, bank.slug).stats()
    assert sum(q["offered_today"] for q in stats["queues"]) > 0
    assert sum(q["answered_today"] for q in stats["queues"]) > 0
    assert len(mixed_states) > 1, mixed_states  # agents seen in more than one state at once
    with db.scoped() as session:
        tenancy.bind(session, slug=bank.slug)
        kinds = set(session.scalars(select(AcdRoutingDecision.kind)))
        assert {"offered", "answered"} <= kinds  # written through the action functions
        changes = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "acd.agent.state_change")
        )
        assert changes and changes > 0  # the simulated agents act as users, audited like real ones
