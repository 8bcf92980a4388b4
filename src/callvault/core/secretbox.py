"""Sealing of platform secrets (TOTP seeds, API client secrets) with the installation's secret key.

Customer data never goes through here: it is encrypted with each institution's own keys by the vault.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callvault.config import Settings, get_settings

NONCE_BYTES = 12


class SecretKeyMissing(RuntimeError):
    pass


def ensure_secret_key_file(path: Path) -> str:
    """Create the installation secret (0600) on first run; later runs read the same file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(32).hex())
    return path.read_text(encoding="utf-8").strip()


def _key_bytes(settings: Settings) -> bytes:
    if settings.secret_key is None:
        secret = ensure_secret_key_file(settings.data_dir / "secret.key")
    else:
        secret = settings.secret_key.get_secret_value()
    if len(secret) < 32:
        raise SecretKeyMissing("CALLVAULT_SECRET_KEY must have at least 32 characters")
    return hashlib.sha256(b"callvault-secretbox-v1" + secret.encode()).digest()


@lru_cache(maxsize=1)
def _aead() -> AESGCM:
    return AESGCM(_key_bytes(get_settings()))


def seal(plaintext: bytes, *, purpose: str) -> bytes:
    """Encrypt; `purpose` (e.g. "totp:<user id>") is bound as associated data so sealed values cannot be swapped."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _aead().encrypt(nonce, plaintext, purpose.encode())


def unseal(sealed: bytes, *, purpose: str) -> bytes:
    return _aead().decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], purpose.encode())


def derive(purpose: str) -> bytes:
    """A 32-byte secret for `purpose` derived from the installation key (nothing to store, nothing to leak)."""
    return hmac.new(_key_bytes(get_settings()), b"callvault-derive-v1\x00" + purpose.encode(), hashlib.sha256).digest()


def reset_cache() -> None:
    _aead.cache_clear()
