"""What the trigger API caches per process never hides a change: a newly published flow version (or a rollback)
is checked at once, and a suspended institution is refused at once although its identity is cached."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.models import IvrFlow
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantUpdate
from tests.fixtures import World
from tests.trigger.helpers import VERIFY_FLOW, bank, order, signed_post

HOOK = "https://bank.example/hooks/calls"


def _with_input(name: str) -> dict[str, Any]:
    doc = copy.deepcopy(VERIFY_FLOW)
    doc["inputs"] = [*doc["inputs"], name]
    return doc


def test_a_new_published_version_is_checked_at_once(world: World, login: Any, client: TestClient) -> None:
    b = bank(world, login)
    assert signed_post(client, b.creds, order(HOOK)).status_code == 202  # the flow's inputs are cached now
    with world.db.scoped() as session:
        tenant = tenancy.bind(session, slug=b.slug)
        actor = system_principal(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_kind=tenant.kind)
        flow = session.scalars(select(IvrFlow).where(IvrFlow.name == "verify-payment")).one()
        first = ivr.published_flow_named(session, name="verify-payment")
        assert first is not None
        ivr.save_draft(session, actor=actor, flow_id=flow.id, document=parse_document(_with_input("merchant")))
        ivr.publish(session, actor=actor, flow_id=flow.id, prompt_exists=lambda _: True)
    r = signed_post(client, b.creds, order(HOOK))
    assert r.status_code == 422, r.text
    assert "merchant" in r.text
    assert signed_post(client, b.creds, order(HOOK, variables={"amount": "1.00", "merchant": "m1"})).status_code == 202

    # A rollback to the first version is a publish as well: the extra input is no longer needed.
    with world.db.scoped() as session:
        tenant = tenancy.bind(session, slug=b.slug)
        actor = system_principal(tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_kind=tenant.kind)
        versions = ivr.list_versions(session, flow_id=flow.id, limit=10, cursor=None).items
        number_one = next(v for v in versions if v.number == first.number)
        ivr.rollback(session, actor=actor, flow_id=flow.id, version_id=number_one.id, prompt_exists=lambda _: True)
    r = signed_post(client, b.creds, order(HOOK, variables={"amount": "1.00", "merchant": "m1"}))
    assert r.status_code == 202, r.text
    assert signed_post(client, b.creds, order(HOOK)).status_code == 202


def test_a_suspended_institution_is_refused_at_once(world: World, login: Any, client: TestClient) -> None:
    b = bank(world, login)
    assert signed_post(client, b.creds, order(HOOK)).status_code == 202  # the tenant identity is cached now
    with world.db.scoped() as session:
        actor = tenancy.operator_principal(session)
        tenancy.update_tenant(session, actor=actor, tenant_id=b.tenant_id, data=TenantUpdate(status="suspended"))
    r = signed_post(client, b.creds, order(HOOK))
    assert r.status_code == 401, r.text
    with world.db.scoped() as session:
        actor = tenancy.operator_principal(session)
        tenancy.update_tenant(session, actor=actor, tenant_id=b.tenant_id, data=TenantUpdate(status="active"))
    assert signed_post(client, b.creds, order(HOOK)).status_code == 202
