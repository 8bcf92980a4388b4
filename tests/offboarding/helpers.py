"""Shared pieces of the hand-back and offboarding tests: seeding an institution, counting its rows, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.ids import new_id
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import set_tenant
from callvault.offboarding.tables import institution_tables
from tests.fixtures import Institution, World


def cv(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def cv_background(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "callvault", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def wait_for(condition: Callable[[], bool], *, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Poll until `condition` holds; fail if the process ends first (the kill would come too late)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"process ended before the kill point: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.005)
    raise AssertionError("kill point not reached in time")


def seeded_institution(world: World, *, bulk_rows: int = 0) -> Institution:
    """An institution with users, an API client, audit records and `bulk_rows` outbox rows (a big table)."""
    inst = world.institution(roles=("admin", "agent"))
    if bulk_rows:
        now = clock.now()
        rows = [
            {
                "id": new_id(),
                "created_at": now,
                "tenant_id": inst.id,
                "name": "test.bulk",
                "payload": {"n": i, "note": "filler row for the resume test"},
                "published_at": now,
            }
            for i in range(bulk_rows)
        ]
        with world.db.scoped() as session:
            set_tenant(session, inst.id)
            for start in range(0, bulk_rows, 5000):
                session.execute(insert(OutboxEvent), rows[start : start + 5000])
            session.commit()
    return inst


def row_counts(db: Database, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows of the tenant in every tenant table."""
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        counts = {
            t.name: int(
                session.execute(select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id)).scalar_one()
            )
            for t in institution_tables()
        }
        session.rollback()
    return counts


def manifest_of(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "manifest.json").read_bytes())
    return data


def seed_contacts(db: Database, tenant_id: uuid.UUID, *, names: list[str], phone: str = "+8613812348000") -> list[Any]:
    """Contacts stored the production way (sealed with the tenant's keys); returns their sealed rows."""
    from callvault.contacts.models import ContactList
    from callvault.contacts.phones import Phone, PhoneType
    from callvault.contacts.sealing import insert_sealed, seal_contact
    from callvault.contacts.validate import Contact
    from callvault.security.vault.runtime import vault

    with db.scoped() as session:
        set_tenant(session, tenant_id)
        lst = ContactList(name=f"list-{uuid.uuid4().hex[:6]}", custom_fields=[])
        session.add(lst)
        session.flush()
        sealed = [
            seal_contact(
                vault(),
                tenant_id=tenant_id,
                list_id=lst.id,
                contact=Contact(line=i + 1, phones=(Phone(phone, PhoneType.MOBILE),), name=name, card_number=None),
            )
            for i, name in enumerate(names)
        ]
        insert_sealed(session, sealed)
        session.commit()
    return sealed
