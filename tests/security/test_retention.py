"""Retention periods per data class: the purge removes exactly the values past their period, audited, idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from callvault.contacts.models import ContactPhone, ContactRecord
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import InvalidInput
from callvault.core.tenant_context import set_tenant
from callvault.security.audit_models import AuditEvent
from callvault.security.principal import system_principal
from callvault.security.retention import purge_tenant
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantUpdate
from tests.fixtures import World
from tests.vault_fixtures import store_contact

DAY = 86400


def _configure(db: Database, tenant_id: uuid.UUID, settings: dict[str, Any]) -> None:
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
        tenancy.update_tenant(session, actor=actor, tenant_id=tenant_id, data=TenantUpdate(settings=settings))


# Call records' numbers are phones too: covered by the same period (this institution has no calls).
NO_CALL_NUMBERS = {"interaction_legs.remote_number": 0, "interaction_legs.local_number": 0, "call_requests.phone": 0}


def _purge(db: Database, tenant_id: uuid.UUID) -> dict[str, int]:
    with db.scoped() as session:
        inst = tenancy.get(session, tenant_id=tenant_id)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="retention")
        settings = inst.settings
    return purge_tenant(db, actor=actor, tenant_id=tenant_id, settings=settings).removed


def _state(db: Database, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> tuple[bool, bool, bool, int]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        row = session.get(ContactRecord, contact_id)
        assert row is not None
        phones = session.scalars(select(ContactPhone).where(ContactPhone.contact_id == contact_id)).all()
        return row.card_number_ct is not None, row.id_number_ct is not None, row.id_number_bidx is not None, len(phones)


def test_purge_removes_values_past_their_period(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    _configure(db, inst.id, {"retention_days": {"bank_card": 30, "phone": 365, "id_number": 200}})
    stored = store_contact(db, inst.slug)
    assert _purge(db, inst.id) == {
        "contacts.id_number": 0,
        "contacts.card_number": 0,
        "contact_phones.e164": 0,
        **NO_CALL_NUMBERS,
    }
    clock.travel(31 * DAY)
    fresh = store_contact(db, inst.slug, phone="+8613900005555")
    assert _purge(db, inst.id)["contacts.card_number"] == 1
    assert _state(db, inst.id, stored.contact_id) == (False, True, True, 2)
    assert _state(db, inst.id, fresh.contact_id) == (True, True, True, 2)
    clock.travel(335 * DAY)
    removed = _purge(db, inst.id)
    assert removed == {"contacts.id_number": 2, "contacts.card_number": 1, "contact_phones.e164": 2, **NO_CALL_NUMBERS}
    assert _state(db, inst.id, stored.contact_id) == (False, False, False, 0)  # ID number and its index both gone
    assert _state(db, inst.id, fresh.contact_id) == (False, False, False, 2)  # 335 days: phones are kept
    assert _purge(db, inst.id) == {
        "contacts.id_number": 0,
        "contacts.card_number": 0,
        "contact_phones.e164": 0,
        **NO_CALL_NUMBERS,
    }
    with db.scoped() as session:
        set_tenant(session, inst.id)
        runs = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.purge").order_by(AuditEvent.seq)
        ).all()
    assert len(runs) == 4 and runs[2].details["removed"] == (
        "call_requests.phone=0,contact_phones.e164=2,contacts.card_number=1,contacts.id_number=2,"
        "interaction_legs.local_number=0,interaction_legs.remote_number=0"
    )


def test_retention_settings_are_validated(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    for bad in ({"bank_card": 0}, {"passport": 30}, {"phone": "a year"}, ["phone"]):
        with pytest.raises(InvalidInput):
            _configure(db, inst.id, {"retention_days": bad})


def test_purge_from_the_command_line(world: World) -> None:
    inst = world.institution(roles=())
    store_contact(world.db, inst.slug)
    r = subprocess.run(
        [sys.executable, "-m", "callvault", "retention", "purge", "--tenant", inst.slug],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stderr
    assert inst.slug in r.stdout
