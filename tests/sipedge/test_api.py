"""SIP edge API: trunks and agent phones per institution, DIDs assigned by the operator (one institution each)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from callvault.core.outbox_models import OutboxEvent
from callvault.security.audit_models import AuditEvent
from callvault.sipedge import directory
from callvault.sipedge.kamailio_cfg import table_rows
from callvault.sipedge.models import SipEndpoint
from callvault.tenancy import service as tenancy
from tests.fixtures import World


def test_institution_keeps_trunks(world: World, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    body = {"name": "carrier-in", "direction": "inbound", "peer_host": "192.0.2.10", "peer_port": 5060}
    created = admin.post("/api/v1/sip/trunks", json=body)
    assert created.status_code == 201, created.text
    trunk = created.json()
    assert trunk["caller_id_rule"] == "keep" and trunk["caller_id"] == ""
    assert admin.post("/api/v1/sip/trunks", json=body).status_code == 409
    out = {"name": "carrier-out", "direction": "outbound", "peer_host": "sbc.example", "caller_id_rule": "fixed"}
    refused = admin.post("/api/v1/sip/trunks", json=out)
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert admin.post("/api/v1/sip/trunks", json=out | {"caller_id": "95588"}).status_code == 201
    names = [t["name"] for t in admin.get("/api/v1/sip/trunks").json()["items"]]
    assert names == ["carrier-in", "carrier-out"]
    assert admin.get(f"/api/v1/sip/trunks/{trunk['id']}").json()["peer_host"] == "192.0.2.10"
    assert admin.delete(f"/api/v1/sip/trunks/{trunk['id']}").status_code == 204
    assert admin.get(f"/api/v1/sip/trunks/{trunk['id']}").status_code == 404
    for bad in ({"peer_host": "a b"}, {"name": "Bad Name"}, {"peer_port": 0}, {"direction": "both"}):
        assert admin.post("/api/v1/sip/trunks", json=body | {"name": "x"} | bad).status_code == 422, bad


def test_operator_assigns_each_did_to_one_institution(world: World, login: Any) -> None:
    a = world.institution()
    b = world.institution()
    op = login(world.operator_user())
    assign = {"number": "+861012345678", "institution_id": str(a.id), "entry_kind": "ivr", "entry": "main"}
    created = op.post("/api/v1/sip/did-inventory", json=assign)
    assert created.status_code == 201, created.text
    did = created.json()
    # The same number cannot go to a second institution (nor twice to the same one).
    again = op.post("/api/v1/sip/did-inventory", json=assign | {"institution_id": str(b.id)})
    assert again.status_code == 409
    assert op.post("/api/v1/sip/did-inventory", json=assign | {"number": "861012345678"}).status_code == 422
    op_tenant = world.operator_actor()[1]
    r = op.post("/api/v1/sip/did-inventory", json=assign | {"number": "+861099", "institution_id": str(op_tenant)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "institution_id"

    a_admin, b_admin = login(a.accounts["admin"]), login(b.accounts["admin"])
    assert [d["number"] for d in a_admin.get("/api/v1/sip/dids").json()["items"]] == ["+861012345678"]
    assert b_admin.get("/api/v1/sip/dids").json()["items"] == []
    assert b_admin.get(f"/api/v1/sip/dids/{did['id']}").status_code == 404
    # Institutions never assign numbers; they choose where theirs lead.
    assert a_admin.post("/api/v1/sip/did-inventory", json=assign | {"number": "+8610777"}).status_code == 403
    moved = a_admin.patch(f"/api/v1/sip/dids/{did['id']}", json={"entry_kind": "queue", "entry": "cards"})
    assert moved.status_code == 200 and moved.json()["entry"] == "cards"
    assert b_admin.patch(f"/api/v1/sip/dids/{did['id']}", json={"entry_kind": "ivr", "entry": "x"}).status_code == 404
    listed = op.get(f"/api/v1/sip/did-inventory?institution_id={a.id}").json()["items"]
    assert [d["id"] for d in listed] == [did["id"]]
    assert op.delete(f"/api/v1/sip/did-inventory/{did['id']}").status_code == 204
    assert a_admin.get("/api/v1/sip/dids").json()["items"] == []
    with world.db.scoped() as session:
        tenancy.operator_principal(session)
        ops = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == did["id"])))
        tenancy.bind(session, slug=a.slug)
        inst_ops = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == did["id"])))
        details = session.scalars(select(AuditEvent.details).where(AuditEvent.object_id == did["id"])).all()
    assert ops == {"sip.did.assigned", "sip.did.released"}
    assert inst_ops == {"sip.did.entry_changed"}
    assert "+861012345678" not in str(details)  # ids only in the audit trail


def test_agent_phone_password_is_shown_once_and_stored_as_sealed_ha1(world: World, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    user_id = str(inst.accounts["admin"].user_id)
    created = admin.post("/api/v1/sip/endpoints", json={"username": "alice", "user_id": user_id})
    assert created.status_code == 201, created.text
    phone = created.json()
    password = phone["password"]
    assert len(password) >= 20 and phone["realm"] == inst.slug
    shown = admin.get(f"/api/v1/sip/endpoints/{phone['id']}").json()
    assert "password" not in shown and shown["username"] == "alice"
    assert admin.post("/api/v1/sip/endpoints", json={"username": "alice"}).status_code == 409
    bad_user = admin.post("/api/v1/sip/endpoints", json={"username": "bob", "user_id": phone["id"]})
    assert bad_user.status_code == 422
    expected = hashlib.md5(f"alice:{inst.slug}:{password}".encode(), usedforsecurity=False).hexdigest()
    with world.db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        row = session.scalars(select(SipEndpoint)).one()
        assert expected.encode() not in row.ha1_ct and password.encode() not in row.ha1_ct
    front = directory.load(world.db)
    assert [(c.tenant, c.username, c.ha1) for c in front.agents if c.tenant == inst.slug] == [
        (inst.slug, "alice", expected)
    ]
    reset = admin.post(f"/api/v1/sip/endpoints/{phone['id']}/password")
    assert reset.status_code == 200 and reset.json()["password"] != password
    new_ha1 = hashlib.md5(f"alice:{inst.slug}:{reset.json()['password']}".encode(), usedforsecurity=False).hexdigest()
    assert [c.ha1 for c in directory.load(world.db).agents if c.tenant == inst.slug] == [new_ha1]
    assert admin.delete(f"/api/v1/sip/endpoints/{phone['id']}").status_code == 204
    assert not [c for c in directory.load(world.db).agents if c.tenant == inst.slug]
    with world.db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == phone["id"])))
    assert actions == {"sip.endpoint.created", "sip.endpoint.password_reset", "sip.endpoint.deleted"}


def test_agents_and_operators_without_the_permission_are_refused(world: World, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent"))
    agent = login(inst.accounts["agent"])
    assert agent.get("/api/v1/sip/endpoints").status_code == 403
    assert agent.post("/api/v1/sip/endpoints", json={"username": "x"}).status_code == 403
    op = login(world.operator_user())
    assert op.get("/api/v1/sip/trunks").status_code == 403
    assert op.get("/api/v1/sip/did-inventory").status_code == 200


def test_an_agent_phone_is_disabled_and_enabled_without_losing_its_account(world: World, login: Any) -> None:
    inst, other = world.institution(), world.institution()
    admin, stranger = login(inst.accounts["admin"]), login(other.accounts["admin"])
    created = admin.post("/api/v1/sip/endpoints", json={"username": "carol"}).json()
    url = f"/api/v1/sip/endpoints/{created['id']}"
    expected = hashlib.md5(f"carol:{inst.slug}:{created['password']}".encode(), usedforsecurity=False).hexdigest()

    disabled = admin.post(f"{url}/disable")
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False and "password" not in disabled.json()
    assert admin.get(url).json()["enabled"] is False
    assert admin.post(f"{url}/disable").json()["enabled"] is False  # asking twice is harmless
    # The front's tables leave the phone out: its REGISTER is challenged and never accepted.
    loaded = directory.load(world.db)
    assert not [a for a in loaded.agents if a.tenant == inst.slug]
    assert f"carol@{inst.slug}" not in table_rows(loaded)["agents"]
    # Another institution's admin cannot see or switch the phone (problem+json 404).
    for action in ("disable", "enable"):
        refused = stranger.post(f"{url}/{action}")
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("application/problem+json")

    enabled = admin.post(f"{url}/enable")
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    # Same account, same password: the HA1 is back in the table unchanged.
    assert table_rows(directory.load(world.db))["agents"][f"carol@{inst.slug}"] == expected
    with world.db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        records = session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == created["id"]).order_by(AuditEvent.seq)
        ).all()
        events = session.scalars(
            select(OutboxEvent.name).where(OutboxEvent.payload["endpoint_id"].as_string() == created["id"])
        ).all()
    assert [r.action for r in records] == ["sip.endpoint.created", "sip.endpoint.disabled", "sip.endpoint.enabled"]
    # Events travel under the institution's routing prefix (t.<slug>.<name>).
    assert sorted(e.rsplit(".sip.", 1)[1] for e in events) == [
        "endpoint.created",
        "endpoint.disabled",
        "endpoint.enabled",
    ]


def test_only_phone_managers_disable_phones(world: World, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent"))
    phone = login(inst.accounts["admin"]).post("/api/v1/sip/endpoints", json={"username": "dave"}).json()
    agent = login(inst.accounts["agent"])
    assert agent.post(f"/api/v1/sip/endpoints/{phone['id']}/disable").status_code == 403
    op = login(world.operator_user())
    assert op.post(f"/api/v1/sip/endpoints/{phone['id']}/disable").status_code == 403


def test_a_released_did_stays_in_the_inventory_and_can_be_assigned_again(world: World, login: Any) -> None:
    a, b = world.institution(), world.institution()
    op = login(world.operator_user())
    number = f"+8621{abs(hash(a.slug)) % 10**8:08d}"
    assign = {"number": number, "institution_id": str(a.id), "entry_kind": "queue", "entry": "cards"}
    did = op.post("/api/v1/sip/did-inventory", json=assign).json()
    assert op.delete(f"/api/v1/sip/did-inventory/{did['id']}").status_code == 204
    assert op.delete(f"/api/v1/sip/did-inventory/{did['id']}").status_code == 409  # not assigned any more
    free = [d for d in op.get("/api/v1/sip/did-inventory?limit=200").json()["items"] if d["id"] == did["id"]]
    assert free == [did | {"institution_id": None, "entry_kind": None, "entry": None}]
    assert number not in {d.number for d in directory.load(world.db).dids}
    again = op.post("/api/v1/sip/did-inventory", json=assign | {"institution_id": str(b.id), "entry_kind": "ivr"})
    assert again.status_code == 201 and again.json()["id"] == did["id"]
    assert again.json()["institution_id"] == str(b.id)
    assert op.post("/api/v1/sip/did-inventory", json=assign).status_code == 409
    b_admin = login(b.accounts["admin"])
    assert [d["number"] for d in b_admin.get("/api/v1/sip/dids").json()["items"]] == [number]
