"""Every domain's encrypted columns, for the code that must cover all of them (re-encryption, export, scanners)."""

from callvault.contacts.sensitive import CONTACT_COLUMNS
from callvault.security.sensitive import SensitiveColumn

SENSITIVE_COLUMNS: tuple[SensitiveColumn, ...] = (*CONTACT_COLUMNS,)


def by_table() -> dict[str, tuple[SensitiveColumn, ...]]:
    """The registry grouped by table, in declaration order."""
    grouped: dict[str, list[SensitiveColumn]] = {}
    for column in SENSITIVE_COLUMNS:
        grouped.setdefault(column.table, []).append(column)
    return {table: tuple(columns) for table, columns in grouped.items()}
