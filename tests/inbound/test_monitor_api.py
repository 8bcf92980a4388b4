"""`POST /api/v1/agents/{agent_id}/monitor` through the real app: the switchboard carrying the agent's call (the
simulated engine, run in its own thread as the services run it) rings the supervisor's phone and joins it to the
call in the mode asked; the request is audited; errors are problem+json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.interactions.models import InteractionLeg
from callvault.security.audit_models import AuditEvent
from callvault.telephony.sim import FarEnd
from tests.acd.live import center, owner
from tests.fixtures import World
from tests.inbound.simthread import carried, phones_and_number, until


def test_a_supervisor_listens_in_on_a_live_call_from_the_api(
    app: FastAPI, world: World, login: Any, db: Database, tmp_path: Path
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann = c.agents["ann"].user_id
    supervisor_id = c.bank.accounts["supervisor"].user_id
    did = phones_and_number(db, c, {"ann": ann, "boss": supervisor_id})
    assert c.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"}).status_code == 200
    phones = {"ann": FarEnd(answer_after=1.0, hangup_after=None), "boss": FarEnd(answer_after=1.0, hangup_after=None)}
    routing = owner(app, c.bank)

    # No live call yet: nothing to listen to.
    r = c.supervisor.post(f"/api/v1/agents/{ann}/monitor", json={"mode": "listen"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"

    with carried(app, db, tmp_path, phones, did) as board:
        until(lambda: routing.connected_call(ann) is not None)
        call_id = routing.connected_call(ann)
        assert c.supervisor.post(f"/api/v1/agents/{ann}/monitor").status_code == 422  # no body
        assert c.supervisor.post(f"/api/v1/agents/{ann}/monitor", json={"mode": "spy"}).status_code == 422
        assert c.sessions["ann"].post(f"/api/v1/agents/{ann}/monitor", json={"mode": "listen"}).status_code == 403
        r = c.supervisor.post(f"/api/v1/agents/{ann}/monitor", json={"mode": "listen"})
        assert r.status_code == 202, r.text
        assert r.json() == {"agent_id": str(ann), "call_id": str(call_id), "mode": "listen"}

        def supervisor_leg() -> list[InteractionLeg]:
            with db.scoped() as session:
                set_tenant(session, c.bank.id)
                stmt = select(InteractionLeg).where(InteractionLeg.party == "supervisor")
                return [leg for leg in session.scalars(stmt) if leg.monitor_mode == "listen"]

        until(lambda: len(supervisor_leg()) == 1)
        assert supervisor_leg()[0].agent_id == supervisor_id
        assert board.stats.connected == 1

    with db.scoped() as session:
        set_tenant(session, c.bank.id)
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "acd.call.monitor")).all()
    assert [(a.object_id, a.details["mode"], a.details["call_id"]) for a in audited] == [
        (str(ann), "listen", str(call_id))
    ]
