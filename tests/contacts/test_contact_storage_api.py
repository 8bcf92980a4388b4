"""Stored contacts through the API: masked by default, audited reveal, blind-index look-up, integrity failures
(SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from structlog.testing import capture_logs
from tests.fixtures import World
from tests.vault_fixtures import CARD, EMAIL, ID_NUMBER, NAME, PHONE, SECOND_PHONE, store_contact

from callvault.contacts.models import ContactRecord
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.identity.models import IdempotencyRecord
from callvault.security.audit_models import AuditEvent

PLAIN = (NAME, ID_NUMBER, CARD, EMAIL, "8800.00", PHONE, SECOND_PHONE, "13812348000")


def _audit(db: Database, tenant_id: Any, action: str) -> list[AuditEvent]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_contact_is_masked_by_default(db: Database, world: World, login: Any) -> None:
    inst = world.institution(roles=("agent",))
    stored = store_contact(db, inst.slug)
    agent = login(inst.accounts["agent"])
    r = agent.get(f"/api/v1/contacts/{stored.contact_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "张*"
    assert body["id_number"] == "110***********002X"
    assert body["card_number"] == "622202*********0123"
    assert [p["number"] for p in body["phones"]] == ["+86138****8000", "+862*****1234"]
    assert body["phones"][0] | {"number": ""} == {
        "position": 0,
        "number": "",
        "type": "mobile",
        "region": "CN",
        "timezone": "Asia/Shanghai",
    }
    assert body["custom"] == {"segment": "gold", "email": "z***@example.com", "balance": "****"}
    assert body["revealed"] == []
    assert not any(value in r.text for value in PLAIN)
    assert _audit(db, inst.id, "pii.reveal") == []
    lists = agent.get("/api/v1/contact-lists").json()["items"]
    assert [(lst["name"], [f["name"] for f in lst["custom_fields"]]) for lst in lists] == [
        ("cards", ["segment", "email", "balance"])
    ]


def test_reveal_needs_the_permission_and_is_audited_without_values(db: Database, world: World, login: Any) -> None:
    inst = world.institution(roles=("agent", "supervisor"))
    stored = store_contact(db, inst.slug)
    url = f"/api/v1/contacts/{stored.contact_id}/reveal"
    body = {"fields": ["phones", "name", "custom"], "reason": "complaint", "ticket": "CASE-2026-117"}
    agent = login(inst.accounts["agent"])
    assert agent.post(url, json=body).status_code == 403
    supervisor = login(inst.accounts["supervisor"])
    r = supervisor.post(url, json=body)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["name"] == NAME and [p["number"] for p in shown["phones"]] == [PHONE, SECOND_PHONE]
    assert shown["custom"] == {"segment": "gold", "email": EMAIL, "balance": "8800.00"}
    assert shown["id_number"] == "110***********002X"  # not asked for: still masked
    assert shown["revealed"] == ["custom", "name", "phones"]
    events = _audit(db, inst.id, "pii.reveal")
    assert sorted((e.object_type, e.details["field"]) for e in events) == [
        ("contact_phones", "e164"),
        ("contact_phones", "e164"),
        ("contacts", "custom_sensitive"),
        ("contacts", "name"),
    ]
    assert {e.details["reason"] for e in events} == {"complaint"}
    assert all(e.actor == f"user:{inst.accounts['supervisor'].user_id}" for e in events)
    assert not any(value in str(e.details) + e.object_id for e in events for value in PLAIN)
    # Repeating with an Idempotency-Key is audited again and the plaintext is not kept for replays.
    again = supervisor.post(url, json=body, headers={"Idempotency-Key": "reveal-1"})
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    assert len(_audit(db, inst.id, "pii.reveal")) == 8
    with db.scoped() as session:
        set_tenant(session, inst.id)
        assert session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "reveal-1")).all() == []
    # A reason is required, unknown fields and free-text reasons are refused.
    for bad in (
        {"fields": ["name"]},
        {"fields": ["address"], "reason": "complaint"},
        {"fields": ["name"], "reason": "x"},
    ):
        assert supervisor.post(url, json=bad).status_code == 422
    assert supervisor.post(url).status_code == 422
    for ticket in ("13812348000", "CASE-13812348000"):
        assert supervisor.post(url, json={**body, "ticket": ticket}).status_code == 422, ticket


def test_look_up_by_phone_uses_the_blind_index(db: Database, world: World, login: Any) -> None:
    inst = world.institution(roles=("agent",))
    wanted = store_contact(db, inst.slug)
    other = store_contact(db, inst.slug, phone="+8613900001111")
    agent = login(inst.accounts["agent"])
    for notation in ("138-1234-8000", "+86 138 1234 8000", "".join(chr(0xFF10 + int(d)) for d in "13812348000")):
        r = agent.get("/api/v1/contacts", params={"phone": notation})
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["items"]] == [str(wanted.contact_id)], notation
    both = agent.get("/api/v1/contacts", params={"list_id": str(wanted.list_id)}).json()["items"]
    assert {c["id"] for c in both} == {str(wanted.contact_id), str(other.contact_id)}
    assert agent.get("/api/v1/contacts", params={"phone": "13700000000"}).json()["items"] == []
    # ID numbers too: lower-case check character and spaces are normalised before indexing.
    by_id = agent.get("/api/v1/contacts", params={"id_number": "110105 19491231 002x", "list_id": str(wanted.list_id)})
    assert {c["id"] for c in by_id.json()["items"]} == {str(wanted.contact_id), str(other.contact_id)}
    assert agent.get("/api/v1/contacts", params={"id_number": "110105194912310038"}).json()["items"] == []
    refused = agent.get("/api/v1/contacts", params={"phone": "110"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"


def test_a_ciphertext_moved_to_another_row_is_a_reported_integrity_error(
    db: Database, world: World, login: Any
) -> None:
    inst = world.institution(roles=("agent",))
    victim = store_contact(db, inst.slug)
    source = store_contact(db, inst.slug, phone="+8613900002222")
    with db.scoped() as session:
        set_tenant(session, inst.id)
        stolen = session.scalars(select(ContactRecord.name_ct).where(ContactRecord.id == source.contact_id)).one()
        contacts = ContactRecord.__table__
        session.execute(update(contacts).where(contacts.c.id == victim.contact_id).values(name_ct=stolen))
        session.commit()
    agent = login(inst.accounts["agent"])
    with capture_logs() as logs:
        r = agent.get(f"/api/v1/contacts/{victim.contact_id}")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Data integrity error" and NAME not in r.text
    assert any(e.get("event_type") == "vault.integrity_failure" and e["log_level"] == "warning" for e in logs)
    failures = _audit(db, inst.id, "vault.integrity_failure")
    assert [(e.object_type, e.object_id, e.outcome, e.details["field"]) for e in failures] == [
        ("contacts", str(victim.contact_id), "failure", "name")
    ]
    # The untouched contact still reads.
    assert agent.get(f"/api/v1/contacts/{source.contact_id}").status_code == 200
