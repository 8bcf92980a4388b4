"""Flow versions through the API: draft (YAML or JSON), publish with per-node errors, rollback, audit, events."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from callvault.acd import service as acd
from callvault.acd.schemas import QueueCreate
from callvault.core.outbox_models import OutboxEvent
from callvault.ivr import service as ivr
from callvault.ivr.lookup import LookupClient
from callvault.security.audit_models import AuditEvent
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.ivr.flows import card_service_yaml
from tests.ivr.institution import institution_server

YAML = {"Content-Type": "application/yaml"}
FLOWS = "/api/v1/ivr/flows"


def _create_queue(world: World, slug: str, name: str) -> None:
    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        acd.create_queue(session, actor=actor, data=QueueCreate(name=name))


def test_draft_publish_rollback(world: World, login: Any) -> None:
    bank = world.institution(roles=("admin", "agent"))
    admin = login(bank.accounts["admin"])
    r = admin.post(FLOWS, json={"name": "card service", "entry_point": "+861088880000"})
    assert r.status_code == 201, r.text
    flow_id = r.json()["id"]

    r = admin.post(f"{FLOWS}/{flow_id}/publish")
    assert r.status_code == 409  # nothing drafted yet

    r = admin.put(f"{FLOWS}/{flow_id}/draft", content=card_service_yaml().encode(), headers=YAML)
    assert r.status_code == 200, r.text
    assert (r.json()["number"], r.json()["status"]) == (1, "draft")

    # The institution has no "cards" queue yet: refused at publish, every node that names it listed.
    r = admin.post(f"{FLOWS}/{flow_id}/publish")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert set(fields) == {
        "nodes.lost_card.queue",
        "nodes.to_agent.queue",
        "nodes.to_agent_plain.queue",
    }
    assert fields["nodes.to_agent.queue"] == "node 'to_agent' names unknown queue 'cards'"

    _create_queue(world, bank.slug, "cards")
    v1 = admin.post(f"{FLOWS}/{flow_id}/publish")
    assert v1.status_code == 200, v1.text
    assert (v1.json()["number"], v1.json()["status"]) == (1, "published")
    assert v1.json()["published_by"].startswith("user:")

    changed = card_service_yaml().replace("欢迎致电信用卡服务中心", "欢迎致电")
    assert admin.put(f"{FLOWS}/{flow_id}/draft", content=changed.encode(), headers=YAML).json()["number"] == 2
    # Saving again replaces the same draft rather than numbering a new one.
    assert admin.put(f"{FLOWS}/{flow_id}/draft", content=changed.encode(), headers=YAML).json()["number"] == 2
    assert admin.post(f"{FLOWS}/{flow_id}/publish").json()["number"] == 2

    r = admin.post(f"{FLOWS}/{flow_id}/versions/{v1.json()['id']}/rollback")
    assert r.status_code == 201, r.text
    v3 = r.json()
    assert (v3["number"], v3["status"], v3["rolled_back_from"]) == (3, "published", 1)
    assert v3["document"] == v1.json()["document"]

    versions = admin.get(f"{FLOWS}/{flow_id}/versions").json()["items"]
    assert [(v["number"], v["status"]) for v in versions] == [(1, "retired"), (2, "retired"), (3, "published")]
    flow = admin.get(f"{FLOWS}/{flow_id}").json()
    assert (flow["published_number"], flow["draft_number"]) == (3, None)
    assert admin.get(FLOWS).json()["items"][0]["id"] == flow_id

    with world.db.scoped() as session:
        tenancy.bind(session, slug=bank.slug)
        live = ivr.published_flow(session, entry_point="+861088880000")
        assert live is not None and live.number == 3 and live.document.start == "greeting"
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("ivr.%"))).all()
        assert actions.count("ivr.flow.publish") == 2 and actions.count("ivr.flow.rollback") == 1
        events = session.scalars(select(OutboxEvent.name).where(OutboxEvent.name.like("%.ivr.flow.%"))).all()
        assert sum(e.endswith("ivr.flow.published") for e in events) == 2
        assert any(e.endswith("ivr.flow.rolled_back") for e in events)

    agent = login(bank.accounts["agent"])
    assert agent.get(FLOWS).status_code == 403
    assert agent.post(f"{FLOWS}/{flow_id}/publish").status_code == 403


def test_bad_drafts_and_graph_errors(world: World, login: Any) -> None:
    bank = world.institution()
    admin = login(bank.accounts["admin"])
    flow_id = admin.post(FLOWS, json={"name": "f", "entry_point": "main"}).json()["id"]
    assert admin.post(FLOWS, json={"name": "f", "entry_point": "other"}).status_code == 409

    r = admin.put(f"{FLOWS}/{flow_id}/draft", content=b"start: [", headers=YAML)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "document"
    r = admin.put(f"{FLOWS}/{flow_id}/draft", content=b"hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = admin.put(f"{FLOWS}/{flow_id}/draft", json={"start": "a", "nodes": {"a": {"type": "warp"}}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("nodes.a")

    # Well-formed but unpublishable: saved as a draft, refused at publish with the node named.
    document = {
        "start": "hello",
        "nodes": {
            "hello": {"type": "play", "prompt": {"file": "hello.wav"}, "next": "bye"},
            "bye": {"type": "hangup"},
            "lost": {"type": "hangup"},
        },
    }
    assert admin.put(f"{FLOWS}/{flow_id}/draft", json=document).status_code == 200
    r = admin.post(f"{FLOWS}/{flow_id}/publish")
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"nodes.hello.prompt"}
    document["nodes"]["hello"]["prompt"] = {"say": "您好"}  # type: ignore[index]
    admin.put(f"{FLOWS}/{flow_id}/draft", json=document)
    r = admin.post(f"{FLOWS}/{flow_id}/publish")
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "nodes.lost", "reason": "node 'lost' is unreachable from 'hello'"}]
    assert admin.get(f"{FLOWS}/{flow_id}").json()["published_number"] is None


def test_lookup_key_is_shown_once_sealed_and_signs_lookups(world: World, login: Any) -> None:
    bank = world.institution(roles=("admin", "supervisor"))
    admin = login(bank.accounts["admin"])
    assert admin.get("/api/v1/ivr/lookup-key").json() == {"key_id": None, "created_at": None}
    first = admin.post("/api/v1/ivr/lookup-key")
    assert first.status_code == 201, first.text
    key_id, secret = first.json()["key_id"], first.json()["secret"]
    assert key_id.startswith(f"cvl.{bank.slug}.")
    shown = admin.get("/api/v1/ivr/lookup-key").json()
    assert shown["key_id"] == key_id and "secret" not in shown
    supervisor = login(bank.accounts["supervisor"])
    assert supervisor.get("/api/v1/ivr/lookup-key").status_code == 200
    assert supervisor.post("/api/v1/ivr/lookup-key").status_code == 403

    with world.db.scoped() as session:
        tenancy.bind(session, slug=bank.slug)
        credentials = ivr.lookup_credentials(session)
        audit_text = " ".join(str(d) for d in session.scalars(select(AuditEvent.details)).all())
    assert credentials is not None and (credentials.key_id, credentials.secret) == (key_id, secret)
    assert secret not in audit_text and secret not in repr(credentials)

    # The institution's server verifies with the secret it was given.
    async def ask(url: str) -> object:
        client = LookupClient(credentials, allow_insecure=True)
        try:
            return await client.lookup(url, {"caller": "x"}, limit=2.0)
        finally:
            await client.aclose()

    with institution_server(key_id=key_id, secret=secret) as server:
        assert asyncio.run(ask(server.url + "/balance"))
        assert server.seen[0].signature_ok

    second = admin.post("/api/v1/ivr/lookup-key").json()
    assert second["key_id"] != key_id and second["secret"] != secret
