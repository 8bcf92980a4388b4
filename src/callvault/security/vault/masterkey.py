"""The master key (key-encryption key) that wraps every tenant data key.

The master key never encrypts customer data itself: it only wraps data keys (envelope encryption), so it can
live in a file today and move to a KMS/HSM or an institution-held key service later behind the same
`KeyEncryptionKey` protocol.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callvault.security.errors import VaultKeyError
from callvault.security.keyfiles import read_private_file, write_private_file

MASTER_KEY_ENV: Final = "CALLVAULT_MASTER_KEY_FILE"
KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_WRAP_FORMAT: Final = b"\x01"


@runtime_checkable
class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys: a local master key, a KMS, or an institution's own key service."""

    @property
    def key_id(self) -> str:
        """A stable, non-secret identifier stored next to every key it wraps."""
        ...

    def wrap(self, key: bytes, *, aad: bytes) -> bytes:
        """Encrypt `key`, binding it to `aad` (tenant, purpose, version)."""
        ...

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        """Decrypt a wrapped key; raise `VaultKeyError` if the key or `aad` does not match."""
        ...


class MasterKey:
    """A 256-bit local master key loaded from a 0600 file.

    Data keys are wrapped with AES-256-GCM rather than AES-KW because GCM takes associated data: a wrapped
    key copied to another tenant's or version's key record fails to unwrap.
    """

    __slots__ = ("_aead", "_key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise VaultKeyError(f"master key must be exactly {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        digest = hmac.new(key, b"callvault/master-key-id/v1", hashlib.sha256).hexdigest()
        self._key_id = f"mk-{digest[:16]}"

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self._key_id!r})"

    @property
    def key_id(self) -> str:
        """Fingerprint of the key (an HMAC of a constant, so it reveals nothing about the key)."""
        return self._key_id

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> MasterKey:
        """Load a master key file: exactly 32 raw bytes, a regular file, no group/other permissions."""
        return cls(read_private_file(path, what="master key", max_bytes=KEY_BYTES, exact=True))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MasterKey:
        """Load the master key from the file named by `CALLVAULT_MASTER_KEY_FILE`."""
        env = os.environ if environ is None else environ
        path = env.get(MASTER_KEY_ENV)
        if not path:
            raise VaultKeyError(f"{MASTER_KEY_ENV} is not set")
        return cls.from_file(path)

    @classmethod
    def generate_to(cls, path: str | os.PathLike[str]) -> MasterKey:
        """Create a new random master key file with mode 0600; never overwrites an existing file."""
        key = secrets.token_bytes(KEY_BYTES)
        write_private_file(path, key, what="master key")
        return cls(key)

    @classmethod
    def load_or_generate(cls, path: str | os.PathLike[str]) -> MasterKey:
        """Demo convenience: load `path`, creating it (0600) on the very first run."""
        if Path(path).exists():
            return cls.from_file(path)
        return cls.generate_to(path)

    def wrap(self, key: bytes, *, aad: bytes) -> bytes:
        """Wrap a data key: format byte, 96-bit random nonce, AES-256-GCM ciphertext and tag."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _WRAP_FORMAT + nonce + self._aead.encrypt(nonce, key, _WRAP_FORMAT + aad)

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        """Unwrap a data key; a wrong master key or a key record moved to another context raises."""
        if len(wrapped) < 1 + _NONCE_BYTES + 16 or wrapped[:1] != _WRAP_FORMAT:
            raise VaultKeyError("wrapped key record is malformed")
        nonce = wrapped[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, wrapped[1 + _NONCE_BYTES :], _WRAP_FORMAT + aad)
        except InvalidTag:
            raise VaultKeyError(
                "data key could not be unwrapped: wrong master key, or the key record was altered or moved"
            ) from None
