"""Per-tenant data keys: storage protocol, in-memory store and the `Keyring` that wraps and caches them.

Each tenant (institution) has versioned data keys for two purposes:

* ``DATA``: field encryption and wrapping of per-recording file keys; rotated with `Keyring.rotate`.
* ``INDEX``: the blind-index HMAC key; deliberately not rotated with the data key, because every stored
  index would have to be recomputed at the same moment.

Only wrapped keys ever reach a `KeyStore`; unwrapped keys live in process memory for `cache_ttl` seconds.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from callvault.security.errors import KeyDestroyed, KeyVersionConflict, UnknownKey, VaultKeyError
from callvault.security.vault.framing import pack_parts
from callvault.security.vault.masterkey import KEY_BYTES, KeyEncryptionKey

TenantId = str | uuid.UUID
"""Tenants are identified by UUID in the platform; the vault works on their string form."""


class KeyPurpose(StrEnum):
    """What a tenant key is used for."""

    DATA = "data"
    INDEX = "index"


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A tenant data key as persisted: only the wrapped form, plus the id of the key that wrapped it."""

    tenant_id: str
    purpose: KeyPurpose
    version: int
    kek_id: str
    wrapped: bytes
    created_at: datetime

    def __repr__(self) -> str:
        return (
            f"WrappedKey(tenant_id={self.tenant_id!r}, purpose={self.purpose.value!r}, "
            f"version={self.version}, kek_id={self.kek_id!r})"
        )


class KeyStore(Protocol):
    """Persistence for wrapped keys; the DB layer implements this with one table.

    Suggested table: ``tenant_key(tenant_id, purpose, version, kek_id, wrapped, created_at)`` with primary key
    ``(tenant_id, purpose, version)`` plus ``tenant_key_tombstone(tenant_id, destroyed_at)``.
    """

    def get(self, tenant_id: str, purpose: KeyPurpose, version: int) -> WrappedKey | None:
        """Return one wrapped key, or None."""
        ...

    def versions(self, tenant_id: str, purpose: KeyPurpose) -> list[int]:
        """Return the existing versions in ascending order (the last one is current)."""
        ...

    def insert(self, key: WrappedKey) -> None:
        """Insert a new key; raise `KeyVersionConflict` if that (tenant, purpose, version) exists."""
        ...

    def delete_version(self, tenant_id: str, purpose: KeyPurpose, version: int) -> None:
        """Delete one retired version (after every ciphertext moved off it)."""
        ...

    def destroy_tenant(self, tenant_id: str) -> None:
        """Delete every key of the tenant and record a tombstone (crypto-shredding)."""
        ...

    def is_destroyed(self, tenant_id: str) -> bool:
        """True once `destroy_tenant` ran for the tenant."""
        ...


@dataclass
class InMemoryKeyStore:
    """A `KeyStore` kept in a dict: for tests, the demo and as the reference behaviour for the DB version."""

    _keys: dict[tuple[str, KeyPurpose, int], WrappedKey] = field(default_factory=dict)
    _destroyed: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, tenant_id: str, purpose: KeyPurpose, version: int) -> WrappedKey | None:
        """Return one wrapped key, or None."""
        return self._keys.get((tenant_id, purpose, version))

    def versions(self, tenant_id: str, purpose: KeyPurpose) -> list[int]:
        """Return the existing versions in ascending order."""
        with self._lock:
            return sorted(v for (t, p, v) in self._keys if t == tenant_id and p == purpose)

    def insert(self, key: WrappedKey) -> None:
        """Insert a new key, refusing duplicates."""
        k = (key.tenant_id, key.purpose, key.version)
        with self._lock:
            if k in self._keys:
                raise KeyVersionConflict(f"key {key.purpose.value} v{key.version} exists for tenant")
            self._keys[k] = key

    def delete_version(self, tenant_id: str, purpose: KeyPurpose, version: int) -> None:
        """Delete one version (no error if absent)."""
        with self._lock:
            self._keys.pop((tenant_id, purpose, version), None)

    def destroy_tenant(self, tenant_id: str) -> None:
        """Delete all keys of the tenant and remember it was destroyed."""
        with self._lock:
            for k in [k for k in self._keys if k[0] == tenant_id]:
                del self._keys[k]
            self._destroyed.add(tenant_id)

    def is_destroyed(self, tenant_id: str) -> bool:
        """True once the tenant was destroyed."""
        return tenant_id in self._destroyed


class TenantKey:
    """An unwrapped tenant key version with its purpose-specific subkeys (derived with HKDF-SHA256)."""

    __slots__ = ("field_aead", "file_kek", "index_key", "purpose", "tenant_id", "version")

    def __init__(self, tenant_id: str, purpose: KeyPurpose, version: int, material: bytes) -> None:
        self.tenant_id = tenant_id
        self.purpose = purpose
        self.version = version

        def derive(label: str) -> bytes:
            info = pack_parts("callvault/v1", label, tenant_id, version)
            return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(material)

        # Separate subkeys so a field ciphertext can never be confused with a wrapped file key.
        self.field_aead = AESGCM(derive("field")) if purpose is KeyPurpose.DATA else None
        self.file_kek = AESGCM(derive("file-key")) if purpose is KeyPurpose.DATA else None
        self.index_key = derive("blind-index") if purpose is KeyPurpose.INDEX else b""

    def __repr__(self) -> str:
        return f"TenantKey(tenant_id={self.tenant_id!r}, purpose={self.purpose.value!r}, v{self.version})"


def wrap_aad(tenant_id: str, purpose: KeyPurpose, version: int) -> bytes:
    """Associated data binding a wrapped key to its tenant, purpose and version."""
    return pack_parts("callvault/tenant-key/v1", tenant_id, purpose.value, version)


class Keyring:
    """Creates, rotates, unwraps and destroys tenant keys held in a `KeyStore`.

    Unwrapped keys are cached for `cache_ttl` seconds so that a `destroy` or `retire` done by another process
    takes effect within that time; the process that performs it drops its cache at once.
    """

    def __init__(
        self,
        kek: KeyEncryptionKey,
        store: KeyStore,
        *,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kek = kek
        self._store = store
        self._ttl = cache_ttl
        self._clock = clock
        self._cache: dict[tuple[str, KeyPurpose, int], tuple[float, TenantKey]] = {}
        self._current: dict[tuple[str, KeyPurpose], tuple[float, int]] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> KeyStore:
        """The underlying store (for re-encryption jobs that list versions)."""
        return self._store

    def provision(self, tenant: TenantId) -> None:
        """Create version 1 of the data and index keys if the tenant has none (idempotent)."""
        tenant_id = str(tenant)
        self._check_alive(tenant_id)
        for purpose in KeyPurpose:
            if not self._store.versions(tenant_id, purpose):
                # A concurrent provision has the same outcome, so a conflict is fine.
                with contextlib.suppress(KeyVersionConflict):
                    self._create(tenant_id, purpose, 1)

    def rotate(self, tenant: TenantId) -> int:
        """Create a new data-key version used for all new writes; old versions still decrypt.

        Other processes switch to the new version for writes within `cache_ttl`.
        """
        tenant_id = str(tenant)
        self._check_alive(tenant_id)
        versions = self._store.versions(tenant_id, KeyPurpose.DATA)
        if not versions:
            raise UnknownKey("tenant has no data key to rotate; provision it first")
        new = versions[-1] + 1
        self._create(tenant_id, KeyPurpose.DATA, new)
        with self._lock:
            self._current.pop((tenant_id, KeyPurpose.DATA), None)
        return new

    def versions(self, tenant: TenantId, purpose: KeyPurpose = KeyPurpose.DATA) -> list[int]:
        """Existing versions of a tenant key, ascending."""
        return self._store.versions(str(tenant), purpose)

    def retire(self, tenant: TenantId, version: int) -> None:
        """Delete an old data-key version once nothing is encrypted under it; the current one is refused."""
        tenant_id = str(tenant)
        versions = self._store.versions(tenant_id, KeyPurpose.DATA)
        if versions and version == versions[-1]:
            raise VaultKeyError("the current data-key version cannot be retired")
        self._store.delete_version(tenant_id, KeyPurpose.DATA, version)
        with self._lock:
            self._cache.pop((tenant_id, KeyPurpose.DATA, version), None)

    def forget(self, tenant: TenantId) -> None:
        """Drop the cached keys and current versions of a tenant (after another keyring rotated or destroyed)."""
        tenant_id = str(tenant)
        with self._lock:
            for k in [k for k in self._cache if k[0] == tenant_id]:
                del self._cache[k]
            for c in [c for c in self._current if c[0] == tenant_id]:
                del self._current[c]

    def destroy(self, tenant: TenantId) -> None:
        """Crypto-shred the tenant: delete every key so no ciphertext of it can be decrypted again."""
        tenant_id = str(tenant)
        self._store.destroy_tenant(tenant_id)
        with self._lock:
            for k in [k for k in self._cache if k[0] == tenant_id]:
                del self._cache[k]
            for c in [c for c in self._current if c[0] == tenant_id]:
                del self._current[c]

    def current(self, tenant: TenantId, purpose: KeyPurpose = KeyPurpose.DATA) -> TenantKey:
        """The key version new writes must use."""
        tenant_id = str(tenant)
        now = self._clock()
        with self._lock:
            hit = self._current.get((tenant_id, purpose))
        if hit is not None and now - hit[0] < self._ttl:
            return self.get(tenant_id, hit[1], purpose)
        self._check_alive(tenant_id)
        versions = self._store.versions(tenant_id, purpose)
        if not versions:
            raise UnknownKey(f"tenant has no {purpose.value} key; provision it first")
        with self._lock:
            self._current[(tenant_id, purpose)] = (now, versions[-1])
        return self.get(tenant_id, versions[-1], purpose)

    def get(self, tenant: TenantId, version: int, purpose: KeyPurpose = KeyPurpose.DATA) -> TenantKey:
        """Unwrap (or take from cache) one key version; raises `KeyDestroyed` or `UnknownKey`."""
        tenant_id = str(tenant)
        now = self._clock()
        ck = (tenant_id, purpose, version)
        with self._lock:
            hit = self._cache.get(ck)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        self._check_alive(tenant_id)
        wrapped = self._store.get(tenant_id, purpose, version)
        if wrapped is None:
            raise UnknownKey(f"tenant has no {purpose.value} key version {version}")
        if wrapped.kek_id != self._kek.key_id:
            raise VaultKeyError(
                f"{purpose.value} key v{version} was wrapped by {wrapped.kek_id}, "
                f"but the loaded master key is {self._kek.key_id}"
            )
        material = self._kek.unwrap(wrapped.wrapped, aad=wrap_aad(tenant_id, purpose, version))
        key = TenantKey(tenant_id, purpose, version, material)
        with self._lock:
            self._cache[ck] = (now, key)
        return key

    def _check_alive(self, tenant_id: str) -> None:
        if self._store.is_destroyed(tenant_id):
            raise KeyDestroyed("the tenant's keys were destroyed; its data cannot be decrypted")

    def _create(self, tenant_id: str, purpose: KeyPurpose, version: int) -> None:
        material = secrets.token_bytes(KEY_BYTES)
        self._store.insert(
            WrappedKey(
                tenant_id=tenant_id,
                purpose=purpose,
                version=version,
                kek_id=self._kek.key_id,
                wrapped=self._kek.wrap(material, aad=wrap_aad(tenant_id, purpose, version)),
                created_at=datetime.now(UTC),
            )
        )
