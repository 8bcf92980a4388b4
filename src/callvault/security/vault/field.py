"""Field-level encryption of sensitive columns with AES-256-GCM under the tenant's current data key.

Ciphertext layout (self-describing, version 1)::

    offset  size  meaning
    0       1     format (0x01 = AES-256-GCM, HKDF field subkey, length-prefixed AAD)
    1       4     data-key version, unsigned big-endian
    5       12    random 96-bit nonce
    17      n+16  ciphertext and 128-bit tag

The associated data binds the value to tenant, table, column, row id and the header, so a ciphertext moved
to another row, column or tenant fails authentication. Random nonces are safe for about 2**32 encryptions
per key version; rotating yearly (or on that count) keeps far below the limit.
"""

from __future__ import annotations

import secrets
import struct
import uuid
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag

from callvault.security.errors import CiphertextTampered
from callvault.security.vault.framing import pack_parts
from callvault.security.vault.keyring import Keyring, TenantId

FORMAT_V1: Final = 0x01
HEADER_BYTES: Final = 1 + 4 + 12
_TAG_BYTES: Final = 16
_HEADER = struct.Struct(">BI")


@dataclass(frozen=True, slots=True)
class FieldContext:
    """Where a value lives: the ciphertext only decrypts in exactly this place.

    Use an id known before the INSERT (a client-generated UUID) for `row_id`, since it is part of the AAD.
    """

    tenant_id: TenantId
    table: str
    column: str
    row_id: str | int | uuid.UUID
    _prefix: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("tenant_id", "table", "column"):
            if not getattr(self, name):
                raise ValueError(f"FieldContext.{name} must not be empty")
        if self.row_id == "" or self.row_id is None:
            raise ValueError("FieldContext.row_id must not be empty")
        tenant, row = str(self.tenant_id), str(self.row_id)
        # Encoded once: a context is typically reused for the encrypt/decrypt of one value.
        prefix = pack_parts("callvault/field/v1", tenant, self.table, self.column, row)
        object.__setattr__(self, "_prefix", prefix)

    def aad(self, header: bytes) -> bytes:
        """Associated data for this context and ciphertext header."""
        return self._prefix + pack_parts(header)


def key_version(ciphertext: bytes) -> int:
    """The data-key version a field ciphertext was written with (for re-encryption jobs)."""
    if len(ciphertext) < HEADER_BYTES + _TAG_BYTES or ciphertext[0] != FORMAT_V1:
        raise CiphertextTampered("not a CallVault field ciphertext")
    return int(_HEADER.unpack_from(ciphertext)[1])


class FieldCipher:
    """Encrypts and decrypts column values for one keyring."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def encrypt(self, plaintext: str | bytes, *, context: FieldContext) -> bytes:
        """Encrypt under the tenant's current data key; `str` is encoded as UTF-8."""
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        key = self._keyring.current(context.tenant_id)
        assert key.field_aead is not None  # DATA keys always carry it
        nonce = secrets.token_bytes(12)
        header = _HEADER.pack(FORMAT_V1, key.version) + nonce
        return header + key.field_aead.encrypt(nonce, data, context.aad(header))

    def decrypt(self, ciphertext: bytes, *, context: FieldContext) -> bytes:
        """Decrypt; raises `CiphertextTampered`, `KeyDestroyed` or `UnknownKey`, never returns garbage."""
        version = key_version(ciphertext)
        key = self._keyring.get(context.tenant_id, version)
        assert key.field_aead is not None
        header = ciphertext[:HEADER_BYTES]
        try:
            return key.field_aead.decrypt(header[5:], ciphertext[HEADER_BYTES:], context.aad(header))
        except InvalidTag:
            raise CiphertextTampered(
                f"field ciphertext failed authentication for {context.table}.{context.column}"
            ) from None

    def decrypt_text(self, ciphertext: bytes, *, context: FieldContext) -> str:
        """Decrypt a value that was encrypted from `str`."""
        return self.decrypt(ciphertext, context=context).decode("utf-8")

    def reencrypt(self, ciphertext: bytes, *, context: FieldContext) -> bytes:
        """Move a value to the current key version; returns the input unchanged if it is already current."""
        if key_version(ciphertext) == self._keyring.current(context.tenant_id).version:
            return ciphertext
        return self.encrypt(self.decrypt(ciphertext, context=context), context=context)

    def needs_reencrypt(self, ciphertext: bytes, *, tenant_id: TenantId) -> bool:
        """True if the value is not under the tenant's current data-key version."""
        return key_version(ciphertext) != self._keyring.current(tenant_id).version
