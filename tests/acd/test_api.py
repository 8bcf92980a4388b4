"""The ACD through the real app: set-up endpoints, the agent's own state, wrap-up, supervisors' forced changes;
every write lands in the database with its audit record and event, and the routing owner acts on it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from callvault.acd.models import AcdAgentStateChange, AcdRoutingDecision
from callvault.core.db import Database
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import set_tenant
from callvault.security.audit_models import AuditEvent
from tests.acd.live import center, owner
from tests.fixtures import World


def test_queue_set_up_reaches_the_owner_and_the_database(app: FastAPI, world: World, login: Any, db: Database) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {"requirements": {"cards": 3}}})
    sup = c.supervisor
    listed = sup.get("/api/v1/acd/queues").json()
    assert [q["name"] for q in listed] == ["cards"]
    r = sup.patch(f"/api/v1/acd/queues/{c.queues['cards']}", json={"requirements": {"cards": 7}})
    assert r.status_code == 200 and r.json()["requirements"] == {"cards": 7}
    router = owner(app, c.bank).router
    # Ann (cards 5) no longer meets the queue's minimum of 7.
    assert router.queues[c.queues["cards"]].config.requirements == {"cards": 7}
    assert not router.queues[c.queues["cards"]].eligible
    assert sup.post("/api/v1/acd/queues", json={"name": "cards"}).status_code == 409
    # An overflow target must be one of the institution's queues, whatever the overflow kind.
    r = sup.post("/api/v1/acd/queues", json={"name": "spill", "overflow_queue_id": str(uuid.uuid4())})
    assert r.status_code == 404
    r = sup.post("/api/v1/acd/queues", json={"name": "x", "requirements": {"cards": 11}})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [p["code"] for p in sup.get("/api/v1/acd/pause-reasons").json()] == ["lunch", "training"]
    assert {"lunch", "training"} <= router.pause_reasons
    agents = sup.get("/api/v1/acd/agents").json()
    assert agents[0]["skills"] == {"cards": 5} and agents[0]["display_name"] == "ann"
    with db.scoped() as session:
        set_tenant(session, c.bank.id)
        actions = set(session.scalars(select(AuditEvent.action)))
        events = {
            n.rsplit(".", 3)[-3] + "." + n.rsplit(".", 2)[-2] + "." + n.rsplit(".", 1)[-1]
            for n in session.scalars(select(OutboxEvent.name))
        }
    assert {"acd.queue.create", "acd.queue.update", "acd.pause_reason.create", "acd.agent.skills_set"} <= actions
    assert {"acd.queue.created", "acd.queue.updated", "acd.agent.updated"} <= events


def test_skills_only_for_the_institutions_own_users(world: World, login: Any) -> None:
    c = center(world, login, agents={}, queues={})
    r = c.supervisor.put(f"/api/v1/acd/agents/{uuid.uuid4()}/skills", json={"skills": {"cards": 1}})
    assert r.status_code == 404


def test_agent_goes_ready_pauses_and_logs_out(app: FastAPI, world: World, login: Any, db: Database) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann, ann_id = c.sessions["ann"], c.agents["ann"].user_id
    assert ann.get("/api/v1/agents/me/state").json()["state"] == "logged_out"
    r = ann.post("/api/v1/agents/me/state", json={"state": "ready"})
    assert r.status_code == 200 and r.json()["state"] == "ready"
    r = ann.post("/api/v1/agents/me/state", json={"state": "paused", "reason": "lunch"})
    assert r.json()["state"] == "paused" and r.json()["reason"] == "lunch"
    r = ann.post("/api/v1/agents/me/state", json={"state": "paused", "reason": "training"})
    assert r.status_code == 409  # paused -> paused is not a transition
    ann.post("/api/v1/agents/me/state", json={"state": "ready"})
    r = ann.post("/api/v1/agents/me/state", json={"state": "paused", "reason": "nap"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    assert ann.post("/api/v1/agents/me/state", json={"state": "talking"}).status_code == 422
    assert ann.post("/api/v1/agents/me/state", json={"state": "logged_out"}).json()["state"] == "logged_out"
    with db.scoped() as session:
        set_tenant(session, c.bank.id)
        logged = session.scalars(
            select(AcdAgentStateChange.state)
            .where(AcdAgentStateChange.agent_id == ann_id)
            .order_by(AcdAgentStateChange.seq)
        ).all()
    assert logged == ["ready", "paused", "ready", "logged_out"]
    # A user without a seat has no state to change.
    other = login(world.user(c.bank.slug, role="agent"))
    assert other.get("/api/v1/agents/me/state").json() | {"seat": False} == other.get("/api/v1/agents/me/state").json()
    assert other.post("/api/v1/agents/me/state", json={"state": "ready"}).status_code == 404


def test_a_ready_agent_gets_the_waiting_call_and_wrap_up_needs_the_disposition(
    app: FastAPI, world: World, login: Any, db: Database
) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {"disposition_required": True}})
    ann, ann_id = c.sessions["ann"], c.agents["ann"].user_id
    routing = owner(app, c.bank)
    call = uuid.uuid4()
    assert routing.enqueue(call, queue_id=c.queues["cards"]) == []
    status = ann.post("/api/v1/agents/me/state", json={"state": "ready"}).json()
    assert status["state"] == "ringing" and status["offer"]["call_id"] == str(call)
    routing.accept(agent_id=ann_id, call_id=call)
    routing.finish_call(call)
    assert ann.get("/api/v1/agents/me/state").json()["state"] == "wrap_up"
    assert ann.post("/api/v1/agents/me/state", json={"state": "ready"}).status_code == 409
    r = ann.post("/api/v1/agents/me/wrap-up", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "disposition"
    r = ann.post("/api/v1/agents/me/wrap-up", json={"disposition": "resolved", "then": "paused", "reason": "lunch"})
    assert r.status_code == 200 and r.json()["state"] == "paused"
    with db.scoped() as session:
        set_tenant(session, c.bank.id)
        kinds = session.scalars(
            select(AcdRoutingDecision.kind).where(AcdRoutingDecision.call_id == call).order_by(AcdRoutingDecision.seq)
        ).all()
        audit = session.scalars(select(AuditEvent.details).where(AuditEvent.action == "acd.agent.state_change")).all()
    assert kinds == ["queued", "offered", "answered"]
    assert {"state": "paused", "reason": "lunch", "disposition": "resolved"} in audit


def test_supervisor_forces_a_state_agents_cannot(app: FastAPI, world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}, "bob": {"cards": 2}}, queues={"cards": {}})
    ann_id, bob_id = c.agents["ann"].user_id, c.agents["bob"].user_id
    r = c.sessions["bob"].post(f"/api/v1/agents/{ann_id}/state", json={"state": "ready"})
    assert r.status_code == 403
    r = c.supervisor.post(f"/api/v1/agents/{ann_id}/state", json={"state": "ready"})
    assert r.status_code == 200 and r.json()["state"] == "ready"
    r = c.supervisor.post(f"/api/v1/agents/{ann_id}/state", json={"state": "logged_out"})
    assert r.json()["state"] == "logged_out"
    assert c.supervisor.post(f"/api/v1/agents/{bob_id}/state").status_code == 422
    assert c.supervisor.post(f"/api/v1/agents/{uuid.uuid4()}/state", json={"state": "ready"}).status_code == 404
