"""The vault on the real database: key tables, provisioning with the tenant, the master-key start-up check,
and contacts stored as ciphertext with blind indexes (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from callvault.config import Settings
from callvault.contacts.models import ContactList, ContactPhone, ContactRecord
from callvault.contacts.phones import Phone, PhoneType
from callvault.contacts.sealing import insert_sealed, seal_contact
from callvault.contacts.sensitive import PHONE_SCOPE
from callvault.contacts.validate import Contact
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security.errors import CiphertextTampered, KeyDestroyed, KeyVersionConflict, VaultKeyError
from callvault.security.vault import FieldContext, KeyPurpose, Keyring, MasterKey, WrappedKey
from callvault.security.vault.runtime import check_master_key, session_vault, vault
from callvault.security.vault.sqlstore import SqlKeyStore
from callvault.security.vault_models import TenantKeyRow
from callvault.tenancy import service as tenancy
from tests.fixtures import World

PHONE = "+8613812348000"
ID_NUMBER = "11010519491231002X"


def _keys(db: Database, tenant_id: uuid.UUID) -> set[tuple[str, int]]:
    with db.scoped() as session:
        rows = session.execute(
            select(TenantKeyRow.purpose, TenantKeyRow.version).where(TenantKeyRow.tenant_id == tenant_id)
        )
        return {(r.purpose, r.version) for r in rows}


def test_create_tenant_provisions_data_and_index_keys(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    assert _keys(db, inst.id) == {("data", 1), ("index", 1)}
    _, operator_id = world.operator_actor()
    assert _keys(db, operator_id) == {("data", 1), ("index", 1)}


def test_keys_created_in_a_rolled_back_transaction_do_not_survive(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    with db.scoped() as session:
        session_vault(session).keyring.rotate(inst.id)
        assert session_vault(session).keyring.versions(inst.id) == [1, 2]
        session.rollback()
    assert _keys(db, inst.id) == {("data", 1), ("index", 1)}


def test_sql_key_store_follows_the_keystore_contract(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    tid = str(inst.id)
    with db.scoped() as session:
        store = SqlKeyStore.for_session(session)
        v1 = store.get(tid, KeyPurpose.DATA, 1)
        assert v1 is not None and v1.kek_id.startswith("mk-")
        duplicate = WrappedKey(tid, KeyPurpose.DATA, 1, v1.kek_id, v1.wrapped, v1.created_at)
        with pytest.raises(KeyVersionConflict):
            store.insert(duplicate)
        # The refused insert left the transaction usable (no aborted transaction on PostgreSQL).
        assert store.versions(tid, KeyPurpose.DATA) == [1]
        keyring = Keyring(MasterKey.from_file(os.environ["CALLVAULT_MASTER_KEY_FILE"]), store)
        assert keyring.rotate(tid) == 2
        keyring.retire(tid, 1)
        assert store.versions(tid, KeyPurpose.DATA) == [2]
        assert not store.is_destroyed(tid)
        keyring.destroy(tid)
        keyring.destroy(tid)  # idempotent
        assert store.is_destroyed(tid)
        assert store.versions(tid, KeyPurpose.DATA) == [] and store.versions(tid, KeyPurpose.INDEX) == []
        with pytest.raises(KeyDestroyed):
            keyring.current(tid)
        session.commit()


def _stored_contact(db: Database, world: World) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    inst = world.institution(roles=())
    with db.scoped() as session:
        set_tenant(session, inst.id)
        lst = ContactList(name="cards-2026", custom_fields=[{"name": "vip", "sensitive": False}])
        session.add(lst)
        session.flush()
        contact = Contact(
            line=7,
            phones=(Phone(PHONE, PhoneType.MOBILE), Phone("+862088881234", PhoneType.FIXED_LINE)),
            name="张三",
            id_number=ID_NUMBER,
            card_number="6222021234567890123",
            custom={"vip": "yes", "balance": "1000"},
        )
        sealed = seal_contact(vault(), tenant_id=inst.id, list_id=lst.id, contact=contact, sensitive_custom={"balance"})
        insert_sealed(session, [sealed])
        session.commit()
        return inst.id, lst.id, sealed.id


def test_contact_round_trip_stores_only_ciphertext(db: Database, world: World) -> None:
    tenant_id, _, contact_id = _stored_contact(db, world)
    v = vault()
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        row = session.get(ContactRecord, contact_id)
        assert row is not None and row.custom == {"vip": "yes"} and row.source_line is None
        assert row.name_ct is not None and "张三".encode() not in row.name_ct
        ctx = FieldContext(tenant_id, "contacts", "name", contact_id)
        assert v.cipher.decrypt_text(row.name_ct, context=ctx) == "张三"
        assert row.card_number_ct is not None
        card = v.cipher.decrypt_text(
            row.card_number_ct, context=FieldContext(tenant_id, "contacts", "card_number", contact_id)
        )
        assert card == "6222021234567890123"
        phones = session.scalars(
            select(ContactPhone).where(ContactPhone.contact_id == contact_id).order_by(ContactPhone.position)
        ).all()
        assert [(p.type, p.region, p.timezone) for p in phones] == [
            ("mobile", "CN", "Asia/Shanghai"),
            ("fixed_line", "CN", "Asia/Shanghai"),
        ]
        first = v.cipher.decrypt_text(
            phones[0].e164_ct, context=FieldContext(tenant_id, "contact_phones", "e164", phones[0].id)
        )
        assert first == PHONE
        # Nothing in the raw rows spells the number.
        table = ContactPhone.__table__
        raw = session.execute(select(table).where(table.c.contact_id == contact_id)).all()
        assert not any(PHONE.encode() in bytes(c) for r in raw for c in r if isinstance(c, bytes | memoryview))


def test_blind_index_finds_the_phone_without_decrypting(db: Database, world: World) -> None:
    tenant_id, _, contact_id = _stored_contact(db, world)
    other_tenant, _, _ = _stored_contact(db, world)
    index = vault().index.phone("138 1234 8000", tenant_id=tenant_id, scope=PHONE_SCOPE)
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        found = session.scalars(select(ContactPhone.contact_id).where(ContactPhone.e164_bidx == index)).all()
        assert found == [contact_id]
    # The same number in another tenant has an unrelated index.
    assert vault().index.phone(PHONE, tenant_id=other_tenant, scope=PHONE_SCOPE) != index


def test_ciphertext_copied_to_another_row_or_tenant_fails(db: Database, world: World) -> None:
    tenant_a, list_a, contact_a = _stored_contact(db, world)
    tenant_b, _, contact_b = _stored_contact(db, world)
    v = vault()
    with db.scoped() as session:
        set_tenant(session, tenant_a)
        name_a = session.get(ContactRecord, contact_a)
        assert name_a is not None and name_a.name_ct is not None
        stolen = name_a.name_ct
        # Another contact of the same tenant, written with SQL.
        second = seal_contact(
            v,
            tenant_id=tenant_a,
            list_id=list_a,
            contact=Contact(line=1, phones=(Phone(PHONE, PhoneType.MOBILE),), name="李四"),
        )
        insert_sealed(session, [second])
        contacts = ContactRecord.__table__
        session.execute(update(contacts).where(contacts.c.id == second.id).values(name_ct=stolen))
        session.commit()
        row = session.get(ContactRecord, second.id)
        assert row is not None and row.name_ct == stolen
        with pytest.raises(CiphertextTampered):
            v.cipher.decrypt(row.name_ct, context=FieldContext(tenant_a, "contacts", "name", second.id))
        # Same row id and column, other tenant: fails as well (and another column of the same row too).
        with pytest.raises(CiphertextTampered):
            v.cipher.decrypt(stolen, context=FieldContext(tenant_b, "contacts", "name", contact_b))
        with pytest.raises(CiphertextTampered):
            v.cipher.decrypt(stolen, context=FieldContext(tenant_a, "contacts", "id_number", contact_a))


def test_start_up_check_refuses_another_master_key(db: Database, world: World) -> None:
    world.institution(roles=())
    with db.scoped() as session:
        store = SqlKeyStore.for_session(session)
        check_master_key(MasterKey.from_file(os.environ["CALLVAULT_MASTER_KEY_FILE"]), store)
        with pytest.raises(VaultKeyError, match="wrong master key"):
            check_master_key(MasterKey(secrets.token_bytes(32)), store)


def _cli(*args: str, key_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CALLVAULT_MASTER_KEY_FILE": str(key_file), "COLUMNS": "200"},
    )


def test_commands_refuse_to_start_with_a_missing_or_wrong_master_key(
    settings: Settings, world: World, tmp_path: Path
) -> None:
    world.institution(roles=())
    missing = _cli("tenant", "list", key_file=tmp_path / "absent.key")
    assert missing.returncode == 2
    assert "master key file" in missing.stderr and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    MasterKey.generate_to(tmp_path / "other.key")
    for args in (("tenant", "list"), ("serve", "--port", "1")):
        wrong = _cli(*args, key_file=tmp_path / "other.key")
        assert wrong.returncode == 2, wrong.stderr
        assert "wrong master key" in wrong.stderr and "Traceback" not in wrong.stderr
    ok = _cli("tenant", "list", "--json", key_file=Path(os.environ["CALLVAULT_MASTER_KEY_FILE"]))
    assert ok.returncode == 0, ok.stderr


def test_destroyed_tenant_cannot_be_decrypted(db: Database, world: World) -> None:
    tenant_id, _, contact_id = _stored_contact(db, world)
    with db.scoped() as session:
        session_vault(session).keyring.destroy(tenant_id)
        session.commit()
    fresh = Keyring(MasterKey.from_file(os.environ["CALLVAULT_MASTER_KEY_FILE"]), SqlKeyStore.for_engine(db.engine))
    with pytest.raises(KeyDestroyed):
        fresh.current(tenant_id)
    with db.scoped() as session:
        assert tenancy.get(session, tenant_id=tenant_id).id == tenant_id
        set_tenant(session, tenant_id)
        assert session.get(ContactRecord, contact_id) is not None


def test_upgrade_gives_keys_to_tenants_that_predate_the_vault(db: Database, world: World) -> None:
    from callvault.security.vault.runtime import provision_missing_keys

    old = world.institution(roles=())
    shredded = world.institution(roles=())
    with db.scoped() as session:
        keys = TenantKeyRow.__table__
        session.execute(keys.delete().where(keys.c.tenant_id == old.id))  # as if created before migration 0004
        session_vault(session).keyring.destroy(shredded.id)
        session.commit()
    with db.scoped() as session:
        assert provision_missing_keys(session, [old.id, shredded.id]) == 1
        session.commit()
    assert _keys(db, old.id) == {("data", 1), ("index", 1)}
    assert _keys(db, shredded.id) == set()


def test_no_stored_ciphertext_decrypts_anywhere_but_its_own_place(db: Database, world: World) -> None:
    """Property over real stored values: each registered ciphertext decrypts in its own (tenant, table, field, row)
    and fails in every other combination of tenant, registered field and row."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from callvault.all_sensitive import SENSITIVE_COLUMNS
    from tests.vault_fixtures import store_contact

    a, b = world.institution(roles=()), world.institution(roles=())
    stored = [store_contact(db, a.slug), store_contact(db, a.slug, phone="+8613900003333"), store_contact(db, b.slug)]
    places = []  # (tenant, column, row id, ciphertext)
    with db.scoped() as session:
        for s in stored:
            set_tenant(session, s.tenant_id)
            for column in SENSITIVE_COLUMNS:
                if column.table not in ("contacts", "contact_phones"):
                    continue  # the stored objects are contacts
                table = ContactRecord.__table__ if column.table == "contacts" else ContactPhone.__table__
                key = table.c.id if column.table == "contacts" else table.c.contact_id
                for row_id, ct in session.execute(
                    select(table.c.id, table.c[column.column]).where(key == s.contact_id)
                ):
                    places.append((s.tenant_id, column, row_id, bytes(ct)))
    v = vault()
    for tenant_id, column, row_id, ct in places:
        assert v.cipher.decrypt(ct, context=column.context(tenant_id, row_id))

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(places), st.sampled_from(places))
    def moved(source: tuple[Any, ...], target: tuple[Any, ...]) -> None:
        tenant_id, column, row_id, _ = target
        ciphertext = source[3]
        if source[:3] == target[:3]:
            return
        with pytest.raises(CiphertextTampered):
            v.cipher.decrypt(ciphertext, context=column.context(tenant_id, row_id))

    moved()


def test_demo_creates_the_master_key_once_and_init_key_never_replaces_one(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CALLVAULT_DATABASE") and k != "CALLVAULT_MASTER_KEY_FILE"
    }
    env |= {"CALLVAULT_DATA_DIR": str(tmp_path), "COLUMNS": "200"}

    def cv(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callvault", *args], capture_output=True, text=True, timeout=300, env=env
        )

    assert cv("demo", "--seed-only").returncode == 0
    key = tmp_path / "master.key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    first = key.read_bytes()
    assert cv("demo", "--seed-only").returncode == 0 and key.read_bytes() == first
    key.rename(tmp_path / "elsewhere.key")
    missing = cv("demo", "--seed-only")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and not key.exists()
    refused = cv("vault", "init-key")
    assert refused.returncode == 1 and "could not read them" in refused.stderr and not key.exists()
