"""An institution-held key-encryption key behind the `KeyEncryptionKey` protocol (SEC-29)."""

from __future__ import annotations

import secrets

import pytest

from callvault.security.vault import (
    FieldCipher,
    FieldContext,
    InMemoryKeyStore,
    KeyEncryptionKey,
    Keyring,
    MasterKey,
    VaultKeyError,
)


class InstitutionKeyService:
    """Stands in for a key service run by the institution: it can revoke the platform's access."""

    def __init__(self) -> None:
        self._key = MasterKey(secrets.token_bytes(32))
        self.revoked = False

    @property
    def key_id(self) -> str:
        return "lkm:" + self._key.key_id

    def wrap(self, key: bytes, *, aad: bytes) -> bytes:
        return self._key.wrap(key, aad=aad)

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        if self.revoked:
            raise VaultKeyError("the institution revoked access to its key")
        return self._key.unwrap(wrapped, aad=aad)


@pytest.mark.sec("SEC-29")
def test_revoking_the_institution_key_stops_decryption_and_regrant_restores_it() -> None:
    service = InstitutionKeyService()
    assert isinstance(service, KeyEncryptionKey)
    store = InMemoryKeyStore()
    Keyring(service, store).provision("inst-a")
    ctx = FieldContext("inst-a", "contact", "id_number", 7)
    blob = FieldCipher(Keyring(service, store)).encrypt("11010519900307123X", context=ctx)

    service.revoked = True
    # A new process (or an expired cache) has to ask the institution again and is refused.
    with pytest.raises(VaultKeyError, match="revoked"):
        FieldCipher(Keyring(service, store)).decrypt(blob, context=ctx)

    service.revoked = False
    assert FieldCipher(Keyring(service, store)).decrypt_text(blob, context=ctx) == "11010519900307123X"
