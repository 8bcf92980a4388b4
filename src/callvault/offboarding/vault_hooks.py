"""The vault pieces the hand-back uses: sensitive-column decryption (from the registry), recording decryption
and key shredding."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from callvault.all_models import metadata
from callvault.all_sensitive import by_table
from callvault.offboarding.offboard import KeyShredder
from callvault.offboarding.recordings import RecordingReader, decrypting_reader
from callvault.security.sensitive import SensitiveColumn
from callvault.security.vault.field import FieldCipher
from callvault.security.vault.keyring import KeyPurpose
from callvault.security.vault.runtime import vault
from callvault.security.vault.sqlstore import SqlKeyStore


class RegistryColumns:
    """Decrypts every column of the sensitive-column registry, with the same context the writer used."""

    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher
        self._by_table = {table: {c.column: c for c in columns} for table, columns in by_table().items()}

    def columns(self, table: str) -> Mapping[str, str]:
        return {name: _describe(c) for name, c in self._by_table.get(table, {}).items()}

    def exported_name(self, table: str, column: str) -> str:
        field = self._by_table[table][column].field
        # Never shadow a plain column of the same name.
        return column if field in metadata.tables[table].c else field

    def decrypt(self, *, tenant_id: uuid.UUID, table: str, column: str, row: Mapping[str, Any], value: bytes) -> Any:
        sensitive = self._by_table[table][column]
        plain = self._cipher.decrypt_text(value, context=sensitive.context(tenant_id, row[sensitive.id_column]))
        # Columns without a data class hold a JSON object (a list's sensitive custom fields): hand it back as one.
        return json.loads(plain) if sensitive.data_class is None else plain

    def field(self, table: str, column: str) -> SensitiveColumn:
        return self._by_table[table][column]


def _describe(column: SensitiveColumn) -> str:
    return column.data_class.value if column.data_class is not None else "JSON object of sensitive custom fields"


def sensitive_columns() -> RegistryColumns:
    return RegistryColumns(vault().cipher)


def recording_reader() -> RecordingReader:
    # Importing the call records registers their recordings as a source of the export.
    import callvault.interactions.recordings  # noqa: F401

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
