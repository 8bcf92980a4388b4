"""Data-key rotation and re-encryption on the real database: old values still decrypt, the job moves every
registered ciphertext, survives a crash mid-way, is idempotent, and retires old versions only when unused."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from callvault.all_models import metadata
from callvault.all_sensitive import SENSITIVE_COLUMNS, by_table
from callvault.contacts.models import ContactPhone, ContactRecord
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security.audit_models import AuditEvent
from callvault.security.rekey import ReencryptResult, reencrypt_tenant, rotate_data_key
from callvault.security.vault import key_version
from callvault.security.vault.runtime import session_vault
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.vault_fixtures import NAME, PHONE, store_contact


def _versions(db: Database, tenant_id: uuid.UUID) -> list[int]:
    """Key version of every stored ciphertext of the tenant, over the whole registry."""
    out = []
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        for column in SENSITIVE_COLUMNS:
            table = metadata.tables[column.table]
            # Core statements on tables get no automatic tenant criterion (only ORM entities do): filter here.
            values = session.scalars(
                select(table.c[column.column]).where(
                    table.c.tenant_id == tenant_id, table.c[column.column].is_not(None)
                )
            )
            out += [key_version(bytes(v)) for v in values]
    return out


def _operator(db: Database) -> Any:
    with db.scoped() as session:
        return tenancy.operator_principal(session)


def _rotate(db: Database, tenant_id: uuid.UUID) -> int:
    with db.scoped() as session:
        return rotate_data_key(session, actor=tenancy.operator_principal(session), tenant_id=tenant_id)


def test_registry_covers_every_ciphertext_column() -> None:
    declared = {(c.table, c.column) for c in SENSITIVE_COLUMNS}
    stored = {(t.name, col.name) for t in metadata.sorted_tables for col in t.c if col.name.endswith("_ct")}
    assert stored == declared
    for column in SENSITIVE_COLUMNS:
        if column.blind_index_column:
            assert column.blind_index_column in metadata.tables[column.table].c
    assert set(by_table()) == {
        "contacts",
        "contact_phones",
        "dnc_entries",
        "consent_records",
        "call_requests",
        "webhook_deliveries",
        "interactions",
        "interaction_legs",
        "sip_endpoints",
    }


def test_plain_values_decrypts_every_registered_column_of_a_row(db: Database, world: World) -> None:
    from callvault.all_sensitive import plain_values
    from callvault.security.vault.runtime import vault

    inst = world.institution(roles=())
    stored = store_contact(db, inst.slug)
    with db.scoped() as session:
        set_tenant(session, inst.id)
        contacts = ContactRecord.__table__
        row = session.execute(select(contacts).where(contacts.c.id == stored.contact_id)).mappings().one()
        phones = ContactPhone.__table__
        phone = (
            session.execute(select(phones).where(phones.c.contact_id == stored.contact_id, phones.c.position == 0))
            .mappings()
            .one()
        )
    plain = plain_values(vault(), tenant_id=inst.id, table="contacts", row=row)
    assert plain["name"] == NAME and plain["card_number"] == "6222021234567890123"
    assert plain["custom_sensitive"] == '{"balance": "8800.00", "email": "zhang.san@example.com"}'
    assert plain_values(vault(), tenant_id=inst.id, table="contact_phones", row=phone) == {"e164": PHONE}


def test_rotate_keeps_old_values_readable_and_reencrypt_moves_all(db: Database, world: World, login: Any) -> None:
    inst = world.institution(roles=("supervisor",))
    for i in range(3):
        store_contact(db, inst.slug, phone=f"+861390000{i:04d}")
    first = store_contact(db, inst.slug)
    assert set(_versions(db, inst.id)) == {1}
    assert _rotate(db, inst.id) == 2
    newer = store_contact(db, inst.slug, phone="+8613700001234")
    assert set(_versions(db, inst.id)) == {1, 2}
    # Old and new values both read (through the process-wide vault as well, whose cache may be older).
    s = login(inst.accounts["supervisor"])
    for stored in (first, newer):
        r = s.post(
            f"/api/v1/contacts/{stored.contact_id}/reveal", json={"fields": ["name"], "reason": "data_correction"}
        )
        assert r.status_code == 200 and r.json()["name"] == NAME, r.text

    result = reencrypt_tenant(db, actor=_operator(db), tenant_id=inst.id, batch_size=2)
    assert result.failed == [] and result.remaining_old == 0 and result.version == 2
    assert result.moved == 4 * 6  # four old contacts: name, id, card, custom + two phones each
    assert set(_versions(db, inst.id)) == {2}
    again = reencrypt_tenant(db, actor=_operator(db), tenant_id=inst.id)
    assert again.moved == 0 and again.remaining_old == 0
    r = s.get("/api/v1/contacts", params={"phone": PHONE})
    assert [c["id"] for c in r.json()["items"]] == [str(first.contact_id)]  # index key is not rotated
    with db.scoped() as session:
        set_tenant(session, inst.id)
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("vault.%")).order_by(AuditEvent.seq))
        )
    assert actions == ["vault.key_rotated", "vault.reencrypt", "vault.reencrypt"]


def test_a_crash_mid_way_is_finished_by_a_rerun(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    for i in range(5):
        store_contact(db, inst.slug, phone=f"+861380000{i:04d}")
    _rotate(db, inst.id)
    batches = []

    def crash_after_two(table: str, rows: int) -> None:
        batches.append((table, rows))
        if len(batches) == 2:
            raise KeyboardInterrupt  # as abrupt as it gets inside the process

    with pytest.raises(KeyboardInterrupt):
        reencrypt_tenant(db, actor=_operator(db), tenant_id=inst.id, batch_size=2, progress=crash_after_two)
    partial = _versions(db, inst.id)
    assert set(partial) == {1, 2} and partial.count(2) == 2 * 2 * 4  # two batches of two contacts, four fields
    result = reencrypt_tenant(db, actor=_operator(db), tenant_id=inst.id, batch_size=2, retire=True)
    assert result.remaining_old == 0 and result.retired == [1]
    assert set(_versions(db, inst.id)) == {2}
    with db.scoped() as session:
        assert session_vault(session).keyring.versions(inst.id) == [2]


def test_retire_is_refused_while_old_values_remain(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    store_contact(db, inst.slug)
    _rotate(db, inst.id)
    # A value that fails authentication cannot be moved: the old version must stay.
    with db.scoped() as session:
        set_tenant(session, inst.id)
        row = session.scalars(select(ContactRecord)).one()
        row.name_ct = bytes(row.name_ct or b"")[:-1] + bytes([(bytes(row.name_ct or b"")[-1] ^ 1)])
        session.commit()
    result: ReencryptResult = reencrypt_tenant(db, actor=_operator(db), tenant_id=inst.id, retire=True)
    assert len(result.failed) == 1 and result.failed[0].startswith("contacts.name:")
    assert result.remaining_old == 1 and result.retired == []
    with db.scoped() as session:
        assert session_vault(session).keyring.versions(inst.id) == [1, 2]
        set_tenant(session, inst.id)
        failures = session.scalars(select(AuditEvent).where(AuditEvent.action == "vault.integrity_failure")).all()
        assert [(f.object_type, f.details["field"]) for f in failures] == [("contacts", "name")]


def test_rotate_and_reencrypt_from_the_command_line(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    store_contact(db, inst.slug)

    def cv(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callvault", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )

    r = cv("tenant", "rotate-key", inst.slug)
    assert r.returncode == 0 and "data key version 2" in r.stdout, r.stderr
    r = cv("tenant", "reencrypt", inst.slug, "--retire")
    assert r.returncode == 0, r.stderr
    assert "6 value(s) moved to data key version 2" in r.stdout and "retired version(s) 1" in r.stdout
    assert set(_versions(db, inst.id)) == {2}
    assert cv("tenant", "reencrypt", "no-such-bank").returncode == 1
