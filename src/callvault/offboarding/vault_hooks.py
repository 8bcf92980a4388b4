"""The vault pieces the hand-back uses: sensitive-column decryption, recording decryption and key shredding."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from callvault.offboarding.export import NoSensitiveColumns, SensitiveColumns
from callvault.offboarding.offboard import KeyShredder
from callvault.offboarding.recordings import RecordingReader


def sensitive_columns() -> SensitiveColumns:
    return NoSensitiveColumns()


def recording_reader() -> RecordingReader | None:
    return None


class _NoVault:
    """Placeholder until the database vault is wired in."""

    def versions(self, session: Session, tenant_id: uuid.UUID) -> dict[str, list[int]]:
        return {}

    def destroy(self, session: Session, tenant_id: uuid.UUID) -> None:
        pass

    def is_destroyed(self, session: Session, tenant_id: uuid.UUID) -> bool:
        return True


def key_shredder() -> KeyShredder:
    return _NoVault()
