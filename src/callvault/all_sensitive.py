"""Every domain's encrypted columns, for the code that must cover all of them (re-encryption, export, scanners)."""

import uuid
from collections.abc import Mapping
from typing import Any

from callvault.contacts.sensitive import CONTACT_COLUMNS
from callvault.core.db import Database
from callvault.dnc.sensitive import DNC_COLUMNS
from callvault.interactions.sensitive import INTERACTION_COLUMNS
from callvault.security.sensitive import SensitiveColumn
from callvault.security.vault.runtime import Vault
from callvault.sipedge.sensitive import SIP_COLUMNS
from callvault.trigger.sensitive import TRIGGER_COLUMNS
from callvault.webhooks.sensitive import WEBHOOK_COLUMNS

SENSITIVE_COLUMNS: tuple[SensitiveColumn, ...] = (
    *CONTACT_COLUMNS,
    *DNC_COLUMNS,
    *TRIGGER_COLUMNS,
    *WEBHOOK_COLUMNS,
    *INTERACTION_COLUMNS,
    *SIP_COLUMNS,
)


def rewrap_files(db: Database, *, tenant_id: uuid.UUID, version: int) -> tuple[int, int, list[str]]:
    """Every domain's encrypted files (recordings) re-wrapped under data-key `version`, so that re-encryption
    covers them before old versions are retired. Returns (moved, still under an old version, failed)."""
    from callvault.interactions.recordings import rewrap_recordings

    done = rewrap_recordings(db, tenant_id=tenant_id, version=version)
    return done.moved, done.remaining_old, done.failed


def by_table() -> dict[str, tuple[SensitiveColumn, ...]]:
    """The registry grouped by table, in declaration order."""
    grouped: dict[str, list[SensitiveColumn]] = {}
    for column in SENSITIVE_COLUMNS:
        grouped.setdefault(column.table, []).append(column)
    return {table: tuple(columns) for table, columns in grouped.items()}


def plain_values(v: Vault, *, tenant_id: uuid.UUID, table: str, row: Mapping[str, Any]) -> dict[str, str | None]:
    """Every registered column of one row decrypted, keyed by field (the tenant export).

    `row` maps column names to values (a SQLAlchemy ``RowMapping``); NULL stays None. A value failing
    authentication raises `CiphertextTampered`: an export must never contain garbage.
    """
    out: dict[str, str | None] = {}
    for column in by_table().get(table, ()):
        ciphertext = row[column.column]
        out[column.field] = (
            None
            if ciphertext is None
            else v.cipher.decrypt_text(bytes(ciphertext), context=column.context(tenant_id, row[column.id_column]))
        )
    return out
