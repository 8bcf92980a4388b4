"""Several processes running the loops at once: two hosts (each with its own database engine, as two processes
have) share the work without doing any of it twice: each call placed once, each webhook sent once, an
institution's campaigns run by one host at a time (lease)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callvault.campaigns.models import CampaignContact, DialAttempt
from callvault.config import Settings
from callvault.core import clock
from callvault.core.db import Database
from callvault.services import leases
from callvault.services.loops import Services, build_services
from callvault.services.models import ServiceLease
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.services.helpers import agentless_campaign, service_settings, wait_for
from tests.trigger.helpers import bank, order, signed_post
from tests.trigger.receiver import webhook_receiver


def _two_hosts(served: Settings) -> tuple[list[Database], list[Services]]:
    dbs = [Database(served), Database(served)]
    hosts = [build_services(served, d) for d in dbs]
    for h in hosts:
        h.host.start()
    return dbs, hosts


def _stop(dbs: list[Database], hosts: list[Services]) -> None:
    for h in hosts:
        h.host.stop()
    for d in dbs:
        d.dispose()


def test_two_hosts_place_each_ordered_call_once_and_send_each_webhook_once(
    world: World, login: Any, client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    b = bank(world, login)
    with webhook_receiver(tmp_path) as hook:
        hook.secret = b.webhook_secret
        ids = []
        for _ in range(10):
            accepted = signed_post(client, b.creds, order(hook.url))
            assert accepted.status_code == 202, accepted.text
            ids.append(accepted.json()["id"])
        served = service_settings(
            settings,
            slug=b.slug,
            ca_file=hook.ca_file,
            service_campaigns=False,
            service_rating=False,
            trigger_interval_seconds=0.01,
            webhook_interval_seconds=0.01,
        )
        dbs, hosts = _two_hosts(served)
        try:
            wait_for(lambda: len(hook.received) >= len(ids), what="every webhook")
            # Both keep polling a while longer: a second placement or delivery would show up now.
            time.sleep(1.0)
        finally:
            _stop(dbs, hosts)
    placed = [str(r) for h in hosts for r in (h.trigger.placed if h.trigger else [])]
    assert sorted(placed) == sorted(ids), "a call was placed twice or not at all"
    assert sum(h.webhooks.attempted for h in hosts if h.webhooks) == len(ids), "a webhook was sent twice"
    assert len({r.msg_id for r in hook.received}) == len(hook.received) == len(ids)
    assert all(r.verified and r.body["data"]["result"] == "verified" for r in hook.received)


def test_a_lease_has_one_holder_until_it_expires_or_is_released(db: Database) -> None:
    name = f"test:{clock.now().timestamp()}"
    assert leases.acquire(db, name, "a", ttl=30)
    assert not leases.acquire(db, name, "b", ttl=30)
    assert leases.acquire(db, name, "a", ttl=30)  # renewal by the holder
    clock.travel(31)
    assert leases.acquire(db, name, "b", ttl=30)  # a's lease ran out (its process died)
    assert not leases.acquire(db, name, "a", ttl=30)
    leases.release(db, name, "a")  # not a's to give back: b keeps it
    assert not leases.acquire(db, name, "a", ttl=30)
    leases.release(db, name, "b")
    assert leases.acquire(db, name, "a", ttl=30)
    leases.release(db, name, "a")


def test_two_hosts_run_an_institutions_campaign_without_dialling_a_contact_twice(
    world: World, db: Database, settings: Settings
) -> None:
    setup = agentless_campaign(world, db, contacts=20, max_lines=5)
    inst, slug, campaign_id = setup.institution, setup.slug, setup.campaign_id
    served = setup.settings(settings, campaign_interval_seconds=0.01)

    def attempts() -> list[tuple[Any, int]]:
        with db.scoped() as session:
            tenancy.bind(session, slug=slug)
            stmt = (
                select(DialAttempt.campaign_contact_id, func.count())
                .where(DialAttempt.campaign_id == campaign_id)
                .group_by(DialAttempt.campaign_contact_id)
            )
            return [(row[0], int(row[1])) for row in session.execute(stmt)]

    lease = f"campaigns:{inst.id}"
    assert leases.acquire(db, lease, "another-process", ttl=600)
    dbs, hosts = _two_hosts(served)
    try:
        # While another process holds the institution's lease, neither host runs its campaigns.
        wait_for(lambda: all(h.campaigns and h.campaigns.passes >= 3 for h in hosts), what="passes")
        assert attempts() == [] and [h.campaigns.runs for h in hosts if h.campaigns] == [0, 0]
        leases.release(db, lease, "another-process")
        wait_for(lambda: len(attempts()) == 20, timeout=120, what="every contact dialled")
        passes = [h.campaigns.passes for h in hosts if h.campaigns]
        wait_for(lambda: all(h.campaigns and h.campaigns.passes >= p + 3 for h, p in zip(hosts, passes, strict=True)))
    finally:
        _stop(dbs, hosts)
    assert all(count == 1 for _, count in attempts()), attempts()
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        states = set(session.scalars(select(CampaignContact.state).where(CampaignContact.campaign_id == campaign_id)))
        held = session.scalar(
            select(func.count()).select_from(ServiceLease).where(ServiceLease.name.contains(str(inst.id)))
        )
    assert "dialing" not in states
    assert held == 0  # given back after every pass
