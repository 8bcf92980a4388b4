"""Key rotation and re-encryption of a tenant's stored ciphertexts.

`rotate_data_key` adds a new data-key version used for every new write; old ciphertexts still decrypt (their
version is in their header). `reencrypt_tenant` then walks every column of the sensitive-column registry in id
order, in batches, each committed on its own: a crash loses at most the batch in flight, and a rerun skips what
is already current (idempotent). Once nothing is left under old versions they can be retired.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from callvault.all_models import metadata
from callvault.all_sensitive import by_table, rewrap_files
from callvault.core import outbox
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant, tenant
from callvault.security import audit
from callvault.security.errors import CiphertextTampered
from callvault.security.principal import Principal
from callvault.security.sensitive import SensitiveColumn, report_integrity_failure
from callvault.security.vault import key_version
from callvault.security.vault.runtime import forget_tenant, session_vault

Progress = Callable[[str, int], None]
"""Called after each committed batch with the table name and the number of rows it covered."""


@dataclass
class ReencryptResult:
    """What one run did: rows looked at, values moved to the current version, values that failed authentication."""

    version: int
    scanned: int = 0
    moved: int = 0
    failed: list[str] = field(default_factory=list)
    remaining_old: int = 0
    retired: list[int] = field(default_factory=list)


def rotate_data_key(session: Session, *, actor: Principal, tenant_id: uuid.UUID) -> int:
    """New data-key version for the tenant; audited in the tenant's and the operator's trail."""
    actor.require("tenant.manage")
    version = session_vault(session).keyring.rotate(tenant_id)
    with tenant(session, tenant_id):
        audit.record(
            session,
            actor=actor,
            action="vault.key_rotated",
            object_type="tenant",
            object_id=tenant_id,
            details={"purpose": "data", "version": version},
        )
    audit.record(
        session,
        actor=actor,
        action="vault.key_rotated",
        object_type="tenant",
        object_id=tenant_id,
        details={"purpose": "data", "version": version},
    )
    outbox.emit(
        session,
        tenant_slug=actor.tenant_slug,
        name="tenant.key_rotated",
        payload={"tenant_id": str(tenant_id), "version": version},
    )
    session.commit()
    forget_tenant(tenant_id)
    return version


def count_rows(db: Database, *, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows per registry table (for progress bars)."""
    out = {}
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        for table_name in by_table():
            table = _table(table_name)
            count = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
            out[table_name] = int(session.execute(count).scalar_one())
    return out


def reencrypt_tenant(
    db: Database,
    *,
    actor: Principal,
    tenant_id: uuid.UUID,
    batch_size: int = 500,
    retire: bool = False,
    progress: Progress | None = None,
) -> ReencryptResult:
    """Move every registered ciphertext of the tenant to its current data-key version (resumable, idempotent)."""
    actor.require("tenant.manage")
    with db.scoped() as session:
        version = session_vault(session).keyring.current(tenant_id).version
    result = ReencryptResult(version=version)
    for table_name, columns in by_table().items():
        _reencrypt_table(db, actor, tenant_id, _table(table_name), columns, batch_size, result, progress)
    # Recordings' file keys too: retiring a version that still wraps one would make that recording unreadable.
    moved, files_old, files_failed = rewrap_files(db, tenant_id=tenant_id, version=version)
    result.moved += moved
    result.failed += files_failed
    result.remaining_old = _count_old(db, tenant_id, version) + files_old
    with db.scoped() as session:
        if retire and result.remaining_old == 0 and not result.failed:
            keyring = session_vault(session).keyring
            for old in keyring.versions(tenant_id)[:-1]:
                keyring.retire(tenant_id, old)
                result.retired.append(old)
        set_tenant(session, tenant_id)
        audit.record(
            session,
            actor=actor,
            action="vault.reencrypt",
            object_type="tenant",
            object_id=tenant_id,
            outcome="success" if not result.failed else "failure",
            details={
                "version": version,
                "moved": result.moved,
                "failed": len(result.failed),
                "retired": result.retired,
            },
        )
        session.commit()
    if result.retired:
        forget_tenant(tenant_id)
    return result


def _table(name: str) -> Table:
    return metadata.tables[name]


def _reencrypt_table(
    db: Database,
    actor: Principal,
    tenant_id: uuid.UUID,
    table: Table,
    columns: tuple[SensitiveColumn, ...],
    batch_size: int,
    result: ReencryptResult,
    progress: Progress | None,
) -> None:
    after: uuid.UUID | None = None
    while True:
        with db.scoped() as session:
            set_tenant(session, tenant_id)
            v = session_vault(session)
            stmt = select(table.c.id, *(table.c[c.column] for c in columns)).where(table.c.tenant_id == tenant_id)
            if after is not None:
                stmt = stmt.where(table.c.id > after)
            rows = session.execute(stmt.order_by(table.c.id).limit(batch_size)).all()
            if not rows:
                return
            bad: list[tuple[SensitiveColumn, uuid.UUID]] = []
            for row in rows:
                for i, column in enumerate(columns, start=1):
                    old = row[i]
                    if old is None or key_version(bytes(old)) == result.version:
                        continue
                    try:
                        new = v.cipher.reencrypt(bytes(old), context=column.context(tenant_id, row.id))
                    except CiphertextTampered:
                        bad.append((column, row.id))
                        continue
                    # Only if unchanged since it was read: a concurrent write already used the current key.
                    session.execute(
                        update(table)
                        .where(table.c.id == row.id, table.c[column.column] == old)
                        .values({column.column: new})
                    )
                    result.moved += 1
            session.commit()
            # Reported after the batch is committed: reporting rolls back whatever is pending.
            for column, row_id in bad:
                result.failed.append(f"{table.name}.{column.field}:{row_id}")
                report_integrity_failure(session, actor=actor, column=column, row_id=row_id)
            result.scanned += len(rows)
            after = rows[-1].id
        if progress is not None:
            progress(table.name, len(rows))


def _count_old(db: Database, tenant_id: uuid.UUID, version: int) -> int:
    """Ciphertexts still under an older version (0 means old versions can be retired)."""
    remaining = 0
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        for table_name, columns in by_table().items():
            table = _table(table_name)
            for column in columns:
                values = session.scalars(
                    select(table.c[column.column]).where(
                        table.c.tenant_id == tenant_id, table.c[column.column].is_not(None)
                    )
                )
                remaining += sum(1 for value in values if key_version(bytes(value)) != version)
    return remaining
