"""The declarative registry of sensitive columns and the one way to read them.

Each encrypted column is declared once (`SensitiveColumn`: table, field, ciphertext column, data class, optional
blind-index column, the permission that reveals it). Masked reads, re-encryption, the tenant export and the
scanners all work from the registry (`callvault.all_sensitive.SENSITIVE_COLUMNS`), so a new encrypted column is
covered everywhere by declaring it.

`open_field` is the only decryption path for request handling: a value that fails authentication is never
returned as empty or garbage; it is logged as a security event, audited as ``vault.integrity_failure`` in its own
committed transaction, and raised as `DataIntegrityError` (problem+json 500).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

import structlog
from sqlalchemy.orm import Session

from callvault.core.errors import DomainError
from callvault.security import audit
from callvault.security.errors import CiphertextTampered
from callvault.security.masking import DataClass, mask
from callvault.security.principal import Principal
from callvault.security.vault import FieldContext
from callvault.security.vault.runtime import Vault

log = structlog.get_logger(__name__)

REVEAL_ACTION: Final = "pii.reveal"
INTEGRITY_ACTION: Final = "vault.integrity_failure"


@dataclass(frozen=True, slots=True)
class SensitiveColumn:
    """One encrypted column.

    `field` is the name used in the ciphertext's associated data and in API responses; `data_class` chooses the
    masking rule (None: a JSON object of custom fields, masked per the list's field definitions).
    """

    table: str
    field: str
    column: str
    data_class: DataClass | None
    reveal_permission: str
    blind_index_column: str | None = None
    blind_index_scope: str | None = None
    id_column: str = "id"

    def context(self, tenant_id: uuid.UUID, row_id: uuid.UUID) -> FieldContext:
        """Where a value of this column lives (the ciphertext's associated data)."""
        return FieldContext(tenant_id, self.table, self.field, row_id)


class DataIntegrityError(DomainError):
    """A stored ciphertext failed authentication: altered, or copied from another row, column or tenant."""

    status = 500
    code = "data-integrity"
    title = "Data integrity error"


def open_field(
    session: Session,
    v: Vault,
    *,
    actor: Principal,
    column: SensitiveColumn,
    tenant_id: uuid.UUID,
    row_id: uuid.UUID,
    ciphertext: bytes,
) -> str:
    """Decrypt one stored value; an authentication failure is reported and raised, never returned."""
    try:
        return v.cipher.decrypt_text(ciphertext, context=column.context(tenant_id, row_id))
    except CiphertextTampered:
        report_integrity_failure(session, actor=actor, column=column, row_id=row_id)
        raise DataIntegrityError(
            f"a stored {column.field} value of this {column.table} record failed its integrity check; "
            "the incident was recorded"
        ) from None


def report_integrity_failure(session: Session, *, actor: Principal, column: SensitiveColumn, row_id: uuid.UUID) -> None:
    """Security event: log line and audit record (committed now: the failing request is rolled back)."""
    log.warning(
        "vault integrity failure",
        event_type=INTEGRITY_ACTION,
        table=column.table,
        field=column.field,
        row_id=str(row_id),
    )
    # What the request did so far is abandoned; the audit record must survive the error response.
    session.rollback()
    audit.record(
        session,
        actor=actor,
        action=INTEGRITY_ACTION,
        object_type=column.table,
        object_id=row_id,
        outcome="failure",
        details={"field": column.field},
    )
    session.commit()


def display(value: str, column: SensitiveColumn, *, revealed: bool) -> str:
    """The plain value when revealed, else its masked form by data class."""
    if revealed:
        return value
    return mask(value, column.data_class) if column.data_class is not None else mask_opaque(value)


def mask_opaque(value: str) -> str:
    """Values without a data class show nothing but that they exist."""
    return "****" if value else ""


def audit_reveal(
    session: Session,
    *,
    actor: Principal,
    column: SensitiveColumn,
    row_id: uuid.UUID,
    reason: str,
    ticket: str | None = None,
    source: str = "stored",
) -> None:
    """Record one unmasked read: who, which object and field, why, and whether the value was stored or fetched
    live from the institution; never the value."""
    details: dict[str, str] = {"field": column.field, "reason": reason, "source": source}
    if ticket:
        details["ticket"] = ticket
    audit.record(
        session, actor=actor, action=REVEAL_ACTION, object_type=column.table, object_id=row_id, details=details
    )
