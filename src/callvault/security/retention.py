"""Retention periods per data class and the purge job (`callvault retention purge`).

An institution's settings may hold ``{"retention_days": {"bank_card": 30, "id_number": 180, "phone": 365,
"name": 365, "custom": 90}}`` (keys: `DataClass` values, ``custom`` for sensitive custom fields). The purge walks
the sensitive-column registry: a value older than its period is removed (its ciphertext and blind index set to
NULL; a row that is nothing but that value, such as a phone number, is deleted). Each run is audited with counts
per field, never values; running it again the same day removes nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import CursorResult, Table, delete, update

from callvault.all_models import metadata
from callvault.all_sensitive import SENSITIVE_COLUMNS
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import InvalidInput
from callvault.core.tenant_context import set_tenant
from callvault.security import audit
from callvault.security.masking import DataClass
from callvault.security.principal import Principal
from callvault.security.sensitive import SensitiveColumn

SETTING: Final = "retention_days"
CUSTOM: Final = "custom"
RETENTION_KEYS: Final = frozenset({*(d.value for d in DataClass), CUSTOM})


class RetentionPolicy(BaseModel):
    """Days each data class is kept after the record was stored; a class not named is kept."""

    model_config = ConfigDict(extra="forbid")
    days: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> RetentionPolicy:
        raw = settings.get(SETTING) or {}
        try:
            policy = cls(days=raw)
        except ValidationError:
            raise InvalidInput.one(SETTING, "must map data classes to whole numbers of days") from None
        unknown = sorted(set(policy.days) - RETENTION_KEYS)
        if unknown:
            raise InvalidInput.one(SETTING, f"unknown data class(es): {', '.join(unknown)}")
        if any(d < 1 for d in policy.days.values()):
            raise InvalidInput.one(SETTING, "periods must be at least one day")
        return policy


def retention_key(column: SensitiveColumn) -> str:
    return column.data_class.value if column.data_class is not None else CUSTOM


@dataclass
class PurgeResult:
    removed: dict[str, int] = field(default_factory=dict)  # "table.field" -> values removed

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def purge_tenant(db: Database, *, actor: Principal, tenant_id: uuid.UUID, settings: dict[str, Any]) -> PurgeResult:
    """Remove the tenant's values older than their retention period, in one audited transaction."""
    actor.require("data.retention")
    policy = RetentionPolicy.from_settings(settings)
    result = PurgeResult()
    now = clock.now()
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        for column in SENSITIVE_COLUMNS:
            days = policy.days.get(retention_key(column))
            if days is None:
                continue
            table: Table = metadata.tables[column.table]
            # Core statements get no automatic tenant criterion: the tenant is named explicitly.
            old = (table.c.tenant_id == tenant_id) & (table.c.created_at < now - timedelta(days=days))
            target = table.c[column.column]
            if not target.nullable:
                removed = cast(CursorResult[Any], session.execute(delete(table).where(old))).rowcount
            else:
                values: dict[str, None] = {column.column: None}
                if column.blind_index_column:
                    values[column.blind_index_column] = None
                statement = update(table).where(old, target.is_not(None)).values(values)
                removed = cast(CursorResult[Any], session.execute(statement)).rowcount
            result.removed[f"{column.table}.{column.field}"] = int(removed or 0)
        audit.record(
            session,
            actor=actor,
            action="retention.purge",
            object_type="tenant",
            object_id=tenant_id,
            details={"removed": result.removed, "policy": policy.days},
        )
        session.commit()
    return result
