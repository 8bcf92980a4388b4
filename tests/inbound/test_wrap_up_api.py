"""The agent's wrap-up files the disposition on the call record of the call it just finished (through the real
app; the call carried by the switchboard on the simulated engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.interactions.models import Interaction
from callvault.telephony.sim import FarEnd
from tests.acd.live import center, owner
from tests.fixtures import World
from tests.inbound.simthread import carried, phones_and_number, until


def _records(db: Database, tenant_id: Any) -> list[Interaction]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        rows = list(session.scalars(select(Interaction)))
        session.expunge_all()
        return rows


def test_the_wrap_up_disposition_closes_the_call_record(
    app: FastAPI, world: World, login: Any, db: Database, tmp_path: Path
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann = c.agents["ann"].user_id
    did = phones_and_number(db, c, {"ann": ann})
    desk = c.sessions["ann"]
    assert desk.post("/api/v1/agents/me/state", json={"state": "ready"}).status_code == 200
    routing = owner(app, c.bank)

    with carried(app, db, tmp_path, {"ann": FarEnd(answer_after=1.0, hangup_after=5.0)}, did):
        until(lambda: routing.router.agents[ann].state.value == "wrap_up")  # the agent hung up after 5 s
        until(lambda: [r.status for r in _records(db, c.bank.id)] == ["ended"])
        r = desk.post("/api/v1/agents/me/wrap-up", json={"disposition": "card_blocked", "then": "ready"})
        assert r.status_code == 200 and r.json()["state"] == "ready"

    (record,) = _records(db, c.bank.id)
    assert (record.status, record.disposition) == ("closed", "card_blocked")
    assert record.wrap_ms >= 0 and record.closed_at is not None
    # Filed once: a second wrap-up (another call later) does not touch this record again.
    assert routing.take_last_interaction(ann) is None
