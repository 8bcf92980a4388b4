"""Which tables hold an institution's data, in which order they are deleted, and how their values are written.

Everything is derived from the SQLAlchemy metadata: a table with a ``tenant_id`` column that is not a platform
table belongs to the institution, so a table added later is exported and deleted without touching this module.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from sqlalchemy import Table

from callvault.all_models import metadata
from callvault.core.models import PLATFORM_TABLES
from callvault.security.canonical import format_time

# The institution's audit chain is kept in the operator's custody after offboarding (see
# docs/tenant-offboarding.md): it holds no personal data, is evidence of what the operator did with the data,
# and the institution's copy in the export can be checked against it. Everything else is deleted.
RETAINED_TABLES: Final = frozenset({"audit_events", "audit_checkpoints", "audit_chain_heads"})

# Credential material is never handed out: the institution's users get new credentials in their next system.
WITHHELD_COLUMNS: Final = frozenset(
    {
        ("users", "password_hash"),
        ("users", "password_history"),
        ("users", "totp_secret"),
        ("api_clients", "secret_sealed"),
        ("webhook_secrets", "secret_sealed"),
        ("sip_endpoints", "ha1_ct"),
    }
)


def institution_tables() -> list[Table]:
    """Every tenant-owned table, parents before children (the metadata's dependency order)."""
    return [t for t in metadata.sorted_tables if "tenant_id" in t.c and t.name not in PLATFORM_TABLES]


def deletion_order() -> list[Table]:
    """Tables whose rows are deleted at offboarding, children before parents."""
    return [t for t in reversed(institution_tables()) if t.name not in RETAINED_TABLES]


def json_value(value: Any) -> Any:
    """A column value as JSON: times in RFC 3339 UTC, ids as text, bytes as standard base64."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    return str(value)


def column_type_name(table: Table, column: str) -> str:
    """The column's SQL type as the schema section of the manifest describes it."""
    try:
        return str(table.c[column].type.compile())
    except Exception:  # a type without a generic SQL form (some TypeDecorators)
        return type(table.c[column].type).__name__
