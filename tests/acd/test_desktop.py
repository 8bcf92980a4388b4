"""The agent desktop WebSocket through the real app: state pushes, the offered call's screen pop with the caller's
record masked, accept/reject commands, refused handshakes, and two institutions that never see each other."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from callvault.acd.owner import CallInfo
from callvault.api import SESSION_COOKIE
from callvault.config import Settings
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.main import create_app
from callvault.security.audit_models import AuditEvent
from tests.acd.live import center, owner
from tests.fixtures import ApiSession, World
from tests.vault_fixtures import CARD, ID_NUMBER, NAME, PHONE, store_contact

WS = "/api/v1/agents/me/ws"


def desk(session: ApiSession, extra: dict[str, str] | None = None) -> Any:
    """Open the desktop channel with the session's cookie (the test client's WebSocket URL is plain ws://, where a
    browser would use wss:// and send the Secure cookie itself)."""
    token = session.client.cookies.get(SESSION_COOKIE)
    return session.client.websocket_connect(WS, headers={"cookie": f"{SESSION_COOKIE}={token}", **(extra or {})})


def until(ws: WebSocketTestSession, wanted: Any, limit: int = 8) -> list[dict[str, Any]]:
    """Messages up to and including the first one `wanted` accepts."""
    seen = []
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        seen.append(message)
        if wanted(message):
            return seen
    raise AssertionError(f"no wanted message among {seen}")


def test_offer_pops_the_masked_record_and_accept_connects(app: FastAPI, world: World, login: Any, db: Database) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {"requirements": {"cards": 1}}})
    ann, ann_id = c.sessions["ann"], c.agents["ann"].user_id
    stored = store_contact(db, c.bank.slug)
    routing = owner(app, c.bank)
    interaction, call = uuid.uuid4(), uuid.uuid4()
    with desk(ann) as ws:
        first = ws.receive_json()
        assert first["type"] == "state" and first["state"] == "logged_out" and first["agent_id"] == str(ann_id)
        ann.post("/api/v1/agents/me/state", json={"state": "ready"})
        assert until(ws, lambda m: m["type"] == "state")[-1]["state"] == "ready"
        info = CallInfo(
            interaction_id=interaction,
            ivr_path=("main", "cards"),
            digits=("1", CARD),
            contact_id=stored.contact_id,
            lookup=(("tier", "vip"), ("balance", "12345.60"), ("card", CARD)),
        )
        routing.enqueue(call, queue_id=c.queues["cards"], info=info)
        seen = until(ws, lambda m: m["type"] == "offer")
        assert {"type": "state", "state": "ringing"}.items() <= seen[0].items()
        pop = seen[-1]
        assert pop["call_id"] == str(call) and pop["queue"] == "cards"
        assert pop["interaction_id"] == str(interaction) and pop["ivr_path"] == ["main", "cards"]
        assert pop["digits"] == ["1", "*" * len(CARD)]
        assert pop["contact"]["id"] == str(stored.contact_id)
        # The institution look-up's answer, with the card number in it masked.
        assert pop["lookup"][:2] == [["tier", "vip"], ["balance", "12345.60"]]
        assert pop["lookup"][2][0] == "card" and CARD[-4:] in pop["lookup"][2][1] and "*" in pop["lookup"][2][1]
        text = json.dumps(pop, ensure_ascii=False)
        for secret in (PHONE, PHONE[3:], NAME, ID_NUMBER, CARD):
            assert secret not in text
        ws.send_json({"type": "accept", "call_id": str(call)})
        seen = until(ws, lambda m: m["type"] == "state" and m["state"] == "talking")
        seen += until(ws, lambda m: m["type"] == "ack") if not any(m["type"] == "ack" for m in seen) else []
        ws.send_json({"type": "accept", "call_id": str(call)})
        error = until(ws, lambda m: m["type"] == "error")[-1]
        assert error["status"] == 409
        ws.send_json({"type": "accept", "call_id": str(uuid.uuid4())})
        assert until(ws, lambda m: m["type"] == "error")[-1]["status"] == 404
    assert routing.router.agents[ann_id].state.value == "talking"
    with db.scoped() as session:
        set_tenant(session, c.bank.id)
        assert not session.scalars(select(AuditEvent).where(AuditEvent.action == "pii.reveal")).first()


def test_reject_pauses_the_agent_and_the_caller_keeps_the_front(app: FastAPI, world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    ann, ann_id = c.sessions["ann"], c.agents["ann"].user_id
    routing = owner(app, c.bank)
    call = uuid.uuid4()
    with desk(ann) as ws:
        ws.receive_json()
        routing.enqueue(call, queue_id=c.queues["cards"])
        ann.post("/api/v1/agents/me/state", json={"state": "ready"})
        # Reconnecting while it rings shows the offer again.
        until(ws, lambda m: m["type"] == "offer")
    with desk(ann) as ws:
        assert ws.receive_json()["state"] == "ringing"
        assert ws.receive_json()["call_id"] == str(call)
        ws.send_json({"type": "reject", "call_id": str(call)})
        seen = until(ws, lambda m: m["type"] == "offer_withdrawn")
        assert {"type": "state", "state": "paused", "reason": "ring_no_answer"}.items() <= seen[0].items()
        assert seen[-1]["cause"] == "not_answered"
    assert routing.router.agents[ann_id].state.value == "paused"
    assert routing.router.calls[call].state.value == "waiting"


def test_an_agent_only_ever_hears_its_own_institution(app: FastAPI, world: World, login: Any) -> None:
    a = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    b = center(world, login, agents={"ann": {"cards": 5}}, queues={"cards": {}})
    a_call = uuid.uuid4()
    with (
        desk(a.sessions["ann"]) as ws_a,
        desk(b.sessions["ann"]) as ws_b,
    ):
        ws_a.receive_json()
        ws_b.receive_json()
        a.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
        owner(app, a.bank).enqueue(a_call, queue_id=a.queues["cards"])
        assert until(ws_a, lambda m: m["type"] == "offer")[-1]["call_id"] == str(a_call)
        # B's agent gets its own change next, and nothing of A's came before it.
        b.sessions["ann"].post("/api/v1/agents/me/state", json={"state": "ready"})
        got = ws_b.receive_json()
        assert got == got | {"type": "state", "state": "ready", "agent_id": str(b.agents["ann"].user_id)}
    assert owner(app, b.bank).router.calls == {}


def test_handshakes_without_an_agent_session_are_refused(app: FastAPI, world: World, login: Any) -> None:
    c = center(world, login, agents={"ann": {"cards": 5}}, queues={})
    with (
        TestClient(app, base_url="https://testserver") as anonymous,
        pytest.raises(WebSocketDisconnect) as refused,
        anonymous.websocket_connect(WS),
    ):
        pass
    assert refused.value.code == 4401
    with pytest.raises(WebSocketDisconnect) as refused, desk(c.supervisor):
        pass  # a supervisor without agent.handle has no desktop
    assert refused.value.code == 4403
    origin = {"origin": "https://evil.example"}
    with pytest.raises(WebSocketDisconnect) as refused, desk(c.sessions["ann"], origin):
        pass
    assert refused.value.code == 4403


def test_the_channel_closes_when_the_session_ends(settings: Settings, db: Database, world: World) -> None:
    app = create_app(settings, db=db)
    app.state.acd.session_check_seconds = 0.1
    bank = world.institution(roles=())
    account = world.user(bank.slug, role="agent")
    with TestClient(app, base_url="https://testserver") as client:
        r = client.post(
            "/api/v1/auth/login",
            json={"institution": bank.slug, "username": account.username, "password": account.password},
        )
        session = ApiSession(client, r.json()["csrf_token"])
        with desk(session) as ws:
            assert ws.receive_json()["type"] == "state"
            assert session.post("/api/v1/auth/logout").status_code in (200, 204)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
    assert closed.value.code == 4401
