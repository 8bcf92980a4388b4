"""The vault: master key, per-tenant data keys, field encryption, blind index and recording encryption.

Typical wiring::

    keyring = Keyring(MasterKey.from_env(), store)      # store: the DB implementation of KeyStore
    keyring.provision(tenant_id)                          # once, when the institution is created
    cipher = FieldCipher(keyring)
    blob = cipher.encrypt("13812348000", context=FieldContext(tenant_id, "contact", "phone", contact_id))
    index = BlindIndex(keyring).phone("13812348000", tenant_id=tenant_id, scope="contact.phone")
"""

from callvault.security.errors import (
    CiphertextTampered,
    KeyDestroyed,
    KeyVersionConflict,
    UnknownKey,
    VaultError,
    VaultKeyError,
)
from callvault.security.vault.blindindex import (
    BlindIndex,
    Normalizer,
    normalize_email,
    normalize_id_number,
    normalize_phone,
    normalize_text,
)
from callvault.security.vault.field import FieldCipher, FieldContext, key_version
from callvault.security.vault.keyring import (
    InMemoryKeyStore,
    KeyPurpose,
    Keyring,
    KeyStore,
    TenantId,
    TenantKey,
    WrappedKey,
)
from callvault.security.vault.masterkey import MASTER_KEY_ENV, KeyEncryptionKey, MasterKey
from callvault.security.vault.recording import FileContext, FileDigest, RecordingCipher

__all__ = [
    "MASTER_KEY_ENV",
    "BlindIndex",
    "CiphertextTampered",
    "FieldCipher",
    "FieldContext",
    "FileContext",
    "FileDigest",
    "InMemoryKeyStore",
    "KeyDestroyed",
    "KeyEncryptionKey",
    "KeyPurpose",
    "KeyStore",
    "KeyVersionConflict",
    "Keyring",
    "MasterKey",
    "Normalizer",
    "RecordingCipher",
    "TenantId",
    "TenantKey",
    "UnknownKey",
    "VaultError",
    "VaultKeyError",
    "WrappedKey",
    "key_version",
    "normalize_email",
    "normalize_id_number",
    "normalize_phone",
    "normalize_text",
]
