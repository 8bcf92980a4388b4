"""Cross-tenant matrix: derived from the app's routes, so a new endpoint joins it (or fails it) automatically."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.acd import service as acd
from callvault.acd.schemas import AgentSkillsSet, QueueCreate
from callvault.api import Requires, mounted_routes, route_policy
from callvault.billing import invoicing, ledger
from callvault.billing import service as billing
from callvault.billing.schemas import TrunkCostCreate
from callvault.campaigns import service as campaigns
from callvault.campaigns.schemas import CampaignCreate
from callvault.contacts import import_service, mapping_service
from callvault.contacts.mapping_schemas import MappingTemplateCreate
from callvault.core import clock
from callvault.dnc import service as dnc
from callvault.dnc.policy import Purpose
from callvault.dnc.schemas import ConsentCreate, DncCreate
from callvault.identity import api_clients
from callvault.identity import service as identity
from callvault.identity.models import Role
from callvault.identity.permissions import CATALOGUE, Scope, permissions_for
from callvault.identity.schemas import ApiClientCreate, RoleCreate, UserCreate
from callvault.interactions.recordings import store_recording
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate
from callvault.security.principal import Principal, system_principal
from callvault.sipedge import service as sip
from callvault.sipedge.schemas import DidAssign, EndpointCreate, EntryKind, TrunkCreate, TrunkDirection
from callvault.tenancy import service as tenancy
from callvault.trigger import service as trigger
from callvault.trigger.schemas import TriggerCreate
from callvault.webhooks import service as webhooks
from tests.billing.helpers import make_leg, tariff_for
from tests.fixtures import PASSWORD, Account, World, unique_slug
from tests.interactions.helpers import actor_of, ended_call
from tests.vault_fixtures import store_contact

pytestmark = pytest.mark.sec("SEC-02")

PARAM = re.compile(r"{(\w+)}")


def _everything_user(world: World, slug: str) -> tuple[Account, dict[str, uuid.UUID]]:
    """A user holding every permission of an institution, plus one object of each kind to be looked for."""
    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        role = identity.create_role(
            session,
            actor=actor,
            data=RoleCreate(name="everything", permissions=sorted(permissions_for("institution")), requires_mfa=False),
        )
        user = identity.create_user(
            session, actor=actor, data=UserCreate(username=f"all-{slug}", password=PASSWORD, role_ids=[role.id])
        )
        client = api_clients.create_client(session, actor=actor, data=ApiClientCreate(name="core", permissions=[]))
        builtin = session.scalars(select(Role).where(Role.name == "agent")).one()
        flow = ivr.create_flow(session, actor=actor, data=FlowCreate(name="main", entry_point=f"did-{slug}"))
        draft = ivr.save_draft(
            session,
            actor=actor,
            flow_id=flow.id,
            document=parse_document({"start": "bye", "nodes": {"bye": {"type": "hangup"}}}),
        )
    stored = store_contact(world.db, slug)
    ids = {
        "user_id": user.id,
        "role_id": role.id,
        "client_id": client.id,
        "tenant_id": inst.id,
        "builtin_role_id": builtin.id,
        "contact_id": stored.contact_id,
        "flow_id": flow.id,
        "version_id": draft.id,
    }
    ids |= _contact_objects(world, slug)
    ids |= _billing_objects(world, inst.id)
    ids |= _trigger_objects(world, slug, client.id)
    ids |= _call_records(world, slug)
    ids |= _acd_objects(world, slug, user.id)
    ids |= _sip_objects(world, slug, inst.id)
    return Account(slug, user.username, PASSWORD, user.id, None), ids


def _trigger_objects(world: World, slug: str, client_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """A call ordered through the trigger API and a dead-lettered webhook delivery."""
    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        flow = ivr.create_flow(session, actor=actor, data=FlowCreate(name="trigger", entry_point=f"out-{slug}"))
        ivr.save_draft(
            session,
            actor=actor,
            flow_id=flow.id,
            document=parse_document({"start": "bye", "nodes": {"bye": {"type": "hangup"}}}),
        )
        ivr.publish(session, actor=actor, flow_id=flow.id, prompt_exists=lambda _: True)
        webhooks.rotate_secret(session, actor=actor, api_client_id=client_id)
        api_client = Principal(
            kind="api_client",
            id=client_id,
            name="core",
            tenant_id=inst.id,
            tenant_slug=inst.slug,
            tenant_kind=inst.kind,
            permissions=frozenset({"call.trigger"}),
        )
        order = TriggerCreate(
            purpose=Purpose.VERIFICATION,
            phone="13800138003",
            flow="trigger",
            deadline=clock.now() + timedelta(hours=1),
            callback_url="https://bank.example/hooks",
        )
        call = trigger.trigger_call(session, actor=api_client, data=order)
        delivery = webhooks.enqueue(
            session, api_client_id=client_id, url="https://bank.example/hooks", event_type="call.result", payload={}
        )
        delivery.status = webhooks.DEAD
        session.commit()
        return {"request_id": call.id, "delivery_id": delivery.id}


def _sip_objects(world: World, slug: str, institution_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """A trunk and an agent phone of the institution, and a DID the operator assigned to it."""
    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        trunk = sip.create_trunk(
            session,
            actor=actor,
            data=TrunkCreate(name="carrier", direction=TrunkDirection.INBOUND, peer_host="192.0.2.1"),
        )
        endpoint = sip.create_endpoint(session, actor=actor, data=EndpointCreate(username=f"agent-{slug}"))
        operator = tenancy.operator_principal(session)
        number = f"+86{int(uuid.uuid4()) % 10**11:011d}"
        did = sip.assign_did(
            session,
            actor=operator,
            data=DidAssign(number=number, institution_id=institution_id, entry_kind=EntryKind.IVR, entry="main"),
        )
    return {"trunk_id": trunk.id, "endpoint_id": endpoint.id, "did_id": did.id}


def _contact_objects(world: World, slug: str) -> dict[str, uuid.UUID]:
    """A contact list with a finished import, a do-not-call entry and a consent record."""
    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        return _contact_objects_in(world, session, actor)


def _contact_objects_in(world: World, session: Session, actor: Principal) -> dict[str, uuid.UUID]:
    list_id, _ = import_service.ensure_list(session, actor=actor, name="matrix", purpose=Purpose.CARE)
    path = world.db.settings.data_dir / f"matrix-{uuid.uuid4().hex}.csv"
    path.write_text("手机\n13800138000\n119\n", encoding="utf-8")
    started = import_service.start_import(
        session,
        actor=actor,
        list_id=list_id,
        path=path,
        file_name=path.name,
        fmt="auto",
        mapping=None,
        report_path=None,
        data_dir=world.db.settings.data_dir,
    )
    import_service.run_job(world.db, actor=actor, job_id=started.job_id, path=path)
    entry = dnc.add_entry(session, actor=actor, data=DncCreate(phone="13800138001"))
    consent = dnc.record_consent(
        session,
        actor=actor,
        data=ConsentCreate(phone="13800138002", granted_at=clock.now(), channel="web_form", evidence_ref="form-1"),
    )
    campaign = campaigns.create_campaign(
        session,
        actor=actor,
        data=CampaignCreate(name="matrix", purpose=Purpose.CARE, list_id=list_id, caller_id="95588"),
    )
    template = mapping_service.create_template(
        session, actor=actor, data=MappingTemplateCreate(name="matrix", mapping={"phones": ["手机"]})
    )
    return {
        "list_id": list_id,
        "mapping_id": template.id,
        "import_id": started.job_id,
        "entry_id": entry.id,
        "consent_id": consent.id,
        "campaign_id": campaign.id,
    }


def _billing_objects(world: World, institution_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """A tariff and a trunk cost (the operator's, naming the institution) and an invoice of the institution."""
    tariff = tariff_for(world.db, institution_id)
    with world.db.scoped() as session:
        actor = tenancy.operator_principal(session)
        cost = billing.create_trunk_cost(
            session, actor=actor, data=TrunkCostCreate(trunk=unique_slug("trunk-"), valid_from=date(2026, 1, 1))
        )
        ledger.rate_legs(session, actor=actor, legs=[make_leg(institution_id)])
        invoice, _ = invoicing.issue_invoice(session, actor=actor, institution_id=institution_id, month="2026-10")
    return {"tariff_id": tariff.id, "trunk_cost_id": cost.id, "invoice_id": invoice.id}


def _call_records(world: World, slug: str) -> dict[str, uuid.UUID]:
    """An ended call with a stored recording."""
    interaction_id, call_id = ended_call(world.db, slug)
    source = world.db.settings.data_dir / f"matrix-{uuid.uuid4().hex}.wav"
    source.write_bytes(_WAV)
    actor = actor_of(world.db, slug)
    with world.db.scoped() as session:
        tenancy.bind(session, slug=slug)
        rec = store_recording(
            session, actor=actor, interaction_id=interaction_id, source=source, engine_recording_id=call_id
        )
    return {"interaction_id": interaction_id, "recording_id": rec.id}


def _acd_objects(world: World, slug: str, agent_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """A queue and an agent seat (the everything user's)."""
    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        queue = acd.create_queue(session, actor=actor, data=QueueCreate(name="matrix", requirements={"cards": 1}))
        acd.set_agent_skills(session, actor=actor, agent_id=agent_id, data=AgentSkillsSet(skills={"cards": 5}))
    return {"queue_id": queue.id, "agent_id": agent_id}


def _streams(route: APIRoute) -> bool:
    """A server-sent event stream: read one event of it, or the request never ends."""
    return "text/event-stream" in route.responses.get(200, {}).get("content", {})


_WAV = (
    b"RIFF" + (36 + 8).to_bytes(4, "little") + b"WAVEfmt " + bytes(16) + b"data" + (8).to_bytes(4, "little") + bytes(8)
)


def _id_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    out = []
    for m in mounted_routes(app):
        if m.path.startswith("/api/v1") and PARAM.search(m.path):
            out += [(method, m.path, m.route) for method in sorted(m.methods)]
    return out


def _operator_only(route: APIRoute) -> bool:
    policy = route_policy(route)
    return (
        isinstance(policy, Requires)
        and policy.permission is not None
        and CATALOGUE[policy.permission].scope == Scope.OPERATOR
    )


def _expected(route: APIRoute, permissions: set[str]) -> int:
    """Without the route's permission: 403 whatever the id. With it: another tenant's id is 404."""
    policy = route_policy(route)
    if isinstance(policy, Requires) and policy.permission and policy.permission not in permissions:
        return 403
    return 404


def test_every_id_route_answers_404_for_another_tenants_object(app: FastAPI, world: World, login: Any) -> None:
    a = world.institution(roles=())
    b = world.institution(roles=())
    a_user, _ = _everything_user(world, a.slug)
    _, b_ids = _everything_user(world, b.slug)
    session_a = login(a_user)
    op = login(world.operator_user())

    routes = _id_routes(app)
    assert routes, "no id-bearing routes found"
    # Switching an agent phone off and on is checked like any id route (derived from the app, listed for clarity).
    for action in ("disable", "enable"):
        assert ("POST", f"/api/v1/sip/endpoints/{{endpoint_id}}/{action}") in {(m, p) for m, p, _ in routes}
    unmapped = sorted({p for _, path, _ in routes for p in PARAM.findall(path)} - set(b_ids))
    assert not unmapped, f"add these path parameters to the cross-tenant matrix: {unmapped}"

    a_perms = set(session_a.get("/api/v1/auth/me").json()["permissions"])
    op_perms = set(op.get("/api/v1/auth/me").json()["permissions"])
    checked = 0
    for method, path, route in routes:
        url = PARAM.sub(lambda m: str(b_ids[m.group(1)]), path)
        body = {} if method in ("PATCH", "PUT") else None
        r = session_a.request(method, url, json=body)
        expected = 403 if _operator_only(route) else _expected(route, a_perms)
        assert expected == 403 or _operator_only(route) or r.status_code == 404
        assert r.status_code == expected, f"{method} {path} as institution A on B's id: {r.status_code} {r.text}"
        assert b.slug not in r.text and f"all-{b.slug}" not in r.text
        if not _operator_only(route):
            r = op.request(method, url, json=body)
            assert r.status_code == _expected(route, op_perms), f"{method} {path} as operator: {r.status_code}"
        checked += 1
    # Institution A holds every institution permission, so every institution route was a real 404 check.
    assert all(_expected(rt, a_perms) == 404 for _, _, rt in routes if not _operator_only(rt))
    # Built-in roles too: B's "agent" role is invisible to A.
    assert session_a.get(f"/api/v1/roles/{b_ids['builtin_role_id']}").status_code == 404
    assert checked >= 9


def test_list_routes_never_return_another_tenants_rows(app: FastAPI, world: World, login: Any) -> None:
    a = world.institution(roles=())
    b = world.institution(roles=())
    a_user, a_ids = _everything_user(world, a.slug)
    _, b_ids = _everything_user(world, b.slug)
    session_a = login(a_user)
    lists = [
        m
        for m in mounted_routes(app)
        if m.path.startswith("/api/v1") and "GET" in m.methods and not PARAM.search(m.path)
    ]
    b_values = {str(v) for v in b_ids.values()}
    assert len(lists) >= 4
    for m in lists:
        r = session_a.get(m.path, params={"max_events": 1} if _streams(m.route) else None)
        if _operator_only(m.route):
            assert r.status_code == 403, m.path
            continue
        assert r.status_code == 200, f"{m.path}: {r.status_code} {r.text}"
        assert not b_values & set(re.findall(r"[0-9a-f-]{36}", r.text)), f"{m.path} leaked B's ids"
        assert f"all-{b.slug}" not in r.text
    assert str(a_ids["user_id"]) in session_a.get("/api/v1/users?limit=200").text


# Routes that take an object's id in the query string rather than the path: (path, parameter, matrix key).
QUERY_ID_ROUTES = (("/api/v1/acd/stats/today", "queue", "queue_id"),)


def test_ids_in_query_strings_answer_404_for_another_tenants_object(app: FastAPI, world: World, login: Any) -> None:
    a = world.institution(roles=())
    b = world.institution(roles=())
    a_user, a_ids = _everything_user(world, a.slug)
    _, b_ids = _everything_user(world, b.slug)
    session_a = login(a_user)
    paths = {m.path for m in mounted_routes(app)}
    for path, param, key in QUERY_ID_ROUTES:
        assert path in paths, path
        r = session_a.get(path, params={param: str(b_ids[key])})
        assert r.status_code == 404, f"{path}?{param}= as institution A on B's id: {r.status_code} {r.text}"
        assert str(b_ids[key]) not in r.text and b.slug not in r.text
        assert session_a.get(path, params={param: str(a_ids[key])}).status_code == 200


def test_role_of_another_tenant_cannot_be_assigned(world: World, login: Any) -> None:
    a = world.institution()
    b = world.institution()
    s = login(a.accounts["admin"])
    b_roles = b.accounts  # noqa: F841 - B's admin exists, with B's admin role
    with world.db.scoped() as session:
        tenancy.bind(session, slug=b.slug)
        b_admin_role = session.scalars(select(Role).where(Role.name == "agent")).one().id
    r = s.post("/api/v1/users", json={"username": "x-agent", "password": PASSWORD, "role_ids": [str(b_admin_role)]})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {"field": "role_ids", "reason": "unknown role id"}
