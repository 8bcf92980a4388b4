"""`SqlKeyStore`: the `KeyStore` protocol on the ``tenant_keys`` and ``tenant_key_tombstones`` tables.

Two ways to reach the database:

* `SqlKeyStore.for_session`: inside the caller's transaction (provisioning in `create_tenant`, rotation,
  crypto-shredding together with the deletion of the tenant's rows). Nothing is committed here.
* `SqlKeyStore.for_engine`: each call in its own short transaction (the process-wide keyring's reads on a cache
  miss, committed keys only).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection, Engine, Insert, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from callvault.core import clock
from callvault.security.errors import KeyVersionConflict
from callvault.security.vault.keyring import KeyPurpose, WrappedKey
from callvault.security.vault_models import TenantKeyRow, TenantKeyTombstone

_KEYS: Table = TenantKeyRow.__table__  # type: ignore[assignment]
_TOMBSTONES: Table = TenantKeyTombstone.__table__  # type: ignore[assignment]

ConnectionProvider = Callable[[], AbstractContextManager[Connection]]


def _insert_ignoring_duplicates(conn: Connection, table: Table) -> Insert:
    """INSERT that does nothing on a primary-key clash, so a conflict never aborts the caller's transaction."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


class SqlKeyStore:
    """Wrapped tenant keys in the database; implements `callvault.security.vault.KeyStore`."""

    def __init__(self, connection: ConnectionProvider) -> None:
        self._connection = connection

    @classmethod
    def for_session(cls, session: Session) -> SqlKeyStore:
        """Work inside `session`'s current transaction; the caller commits or rolls back."""

        @contextmanager
        def provide() -> Iterator[Connection]:
            yield session.connection()

        return cls(provide)

    @classmethod
    def for_engine(cls, engine: Engine) -> SqlKeyStore:
        """Each call in its own transaction on `engine`, committed at once."""
        return cls(engine.begin)

    def get(self, tenant_id: str, purpose: KeyPurpose, version: int) -> WrappedKey | None:
        """Return one wrapped key, or None."""
        with self._connection() as conn:
            row = conn.execute(
                select(_KEYS.c.kek_id, _KEYS.c.wrapped, _KEYS.c.created_at).where(
                    _KEYS.c.tenant_id == uuid.UUID(tenant_id),
                    _KEYS.c.purpose == purpose.value,
                    _KEYS.c.version == version,
                )
            ).one_or_none()
        if row is None:
            return None
        return WrappedKey(
            tenant_id=tenant_id,
            purpose=purpose,
            version=version,
            kek_id=row.kek_id,
            wrapped=bytes(row.wrapped),
            created_at=clock.as_utc(row.created_at),
        )

    def versions(self, tenant_id: str, purpose: KeyPurpose) -> list[int]:
        """Existing versions, ascending (the last one is current)."""
        with self._connection() as conn:
            found = conn.scalars(
                select(_KEYS.c.version)
                .where(_KEYS.c.tenant_id == uuid.UUID(tenant_id), _KEYS.c.purpose == purpose.value)
                .order_by(_KEYS.c.version)
            )
            return [int(v) for v in found]

    def insert(self, key: WrappedKey) -> None:
        """Insert a new key version; `KeyVersionConflict` if it exists (a concurrent rotation won)."""
        with self._connection() as conn:
            stmt = _insert_ignoring_duplicates(conn, _KEYS).values(
                tenant_id=uuid.UUID(key.tenant_id),
                purpose=key.purpose.value,
                version=key.version,
                kek_id=key.kek_id,
                wrapped=key.wrapped,
                created_at=key.created_at,
            )
            # RETURNING rather than rowcount: psycopg reports -1 for INSERT .. ON CONFLICT DO NOTHING.
            if conn.execute(stmt.returning(_KEYS.c.version)).scalar_one_or_none() is None:
                raise KeyVersionConflict(f"key {key.purpose.value} v{key.version} exists for tenant")

    def delete_version(self, tenant_id: str, purpose: KeyPurpose, version: int) -> None:
        """Delete one retired version (no error if absent)."""
        with self._connection() as conn:
            conn.execute(
                delete(_KEYS).where(
                    _KEYS.c.tenant_id == uuid.UUID(tenant_id),
                    _KEYS.c.purpose == purpose.value,
                    _KEYS.c.version == version,
                )
            )

    def destroy_tenant(self, tenant_id: str) -> None:
        """Delete every key of the tenant and record a tombstone, in one transaction (idempotent)."""
        tid = uuid.UUID(tenant_id)
        with self._connection() as conn:
            rows = conn.execute(
                select(_KEYS.c.purpose, _KEYS.c.version)
                .where(_KEYS.c.tenant_id == tid)
                .order_by(_KEYS.c.purpose, _KEYS.c.version)
            ).all()
            summary = ";".join(
                f"{p}:{','.join(str(r.version) for r in rows if r.purpose == p)}"
                for p in sorted({r.purpose for r in rows})
            )
            conn.execute(delete(_KEYS).where(_KEYS.c.tenant_id == tid))
            conn.execute(
                _insert_ignoring_duplicates(conn, _TOMBSTONES).values(
                    tenant_id=tid, destroyed_at=clock.now(), versions=summary[:200]
                )
            )

    def is_destroyed(self, tenant_id: str) -> bool:
        """True once `destroy_tenant` ran for the tenant."""
        with self._connection() as conn:
            found = conn.scalar(select(_TOMBSTONES.c.tenant_id).where(_TOMBSTONES.c.tenant_id == uuid.UUID(tenant_id)))
        return found is not None

    def kek_ids(self) -> list[str]:
        """The distinct master-key ids that wrapped the stored keys (for the start-up check)."""
        with self._connection() as conn:
            return sorted(str(k) for k in conn.scalars(select(_KEYS.c.kek_id).distinct()))

    def any_key(self) -> WrappedKey | None:
        """One stored key (the oldest), to prove the loaded master key can unwrap what is stored."""
        with self._connection() as conn:
            row = conn.execute(
                select(_KEYS.c.tenant_id, _KEYS.c.purpose, _KEYS.c.version).order_by(_KEYS.c.created_at).limit(1)
            ).one_or_none()
        if row is None:
            return None
        return self.get(str(row.tenant_id), KeyPurpose(row.purpose), int(row.version))
