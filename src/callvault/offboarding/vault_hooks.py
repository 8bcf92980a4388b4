"""The vault pieces the hand-back uses: sensitive-column decryption, recording decryption and key shredding."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from callvault.offboarding.export import NoSensitiveColumns, SensitiveColumns
from callvault.offboarding.offboard import KeyShredder
from callvault.offboarding.recordings import RecordingReader, decrypting_reader
from callvault.security.vault.keyring import KeyPurpose
from callvault.security.vault.runtime import vault
from callvault.security.vault.sqlstore import SqlKeyStore


def sensitive_columns() -> SensitiveColumns:
    return NoSensitiveColumns()


def recording_reader() -> RecordingReader:
    return decrypting_reader(vault().recordings)


class VaultShredder:
    """Works on the wrapped keys directly, inside the offboarding's transaction: destroying keys needs no master
    key, and the tombstone is written in the same commit as the job's step."""

    def versions(self, session: Session, tenant_id: uuid.UUID) -> dict[str, list[int]]:
        store = SqlKeyStore.for_session(session)
        return {p.value: store.versions(str(tenant_id), p) for p in KeyPurpose}

    def destroy(self, session: Session, tenant_id: uuid.UUID) -> None:
        SqlKeyStore.for_session(session).destroy_tenant(str(tenant_id))

    def is_destroyed(self, session: Session, tenant_id: uuid.UUID) -> bool:
        return SqlKeyStore.for_session(session).is_destroyed(str(tenant_id))


def key_shredder() -> KeyShredder:
    return VaultShredder()
