"""The process-wide vault, configured from Settings, and the start-up check of the master key.

* `vault()`: the vault every request and job uses to encrypt, decrypt and compute blind indexes. Its keyring
  reads committed keys through its own short transactions and caches unwrapped keys (`Keyring.cache_ttl`).
* `session_vault(session)`: a vault whose keyring reads and writes keys inside `session`'s transaction; use it to
  provision, rotate or destroy keys together with other writes, or to use keys created in that transaction.
* `require_master_key(settings)`: load the master key and prove it unwraps the stored keys; every command calls
  it before touching data, so the platform never runs with data it cannot read.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from callvault.config import Settings, get_settings
from callvault.security.errors import VaultKeyError
from callvault.security.vault.blindindex import BlindIndex
from callvault.security.vault.field import FieldCipher
from callvault.security.vault.keyring import KeyPurpose, Keyring, wrap_aad
from callvault.security.vault.masterkey import KeyEncryptionKey, MasterKey
from callvault.security.vault.recording import RecordingCipher
from callvault.security.vault.sqlstore import SqlKeyStore


@dataclass(frozen=True, slots=True)
class Vault:
    """A keyring and the ciphers built on it."""

    keyring: Keyring
    cipher: FieldCipher
    index: BlindIndex
    recordings: RecordingCipher

    @classmethod
    def on(cls, keyring: Keyring) -> Vault:
        return cls(keyring, FieldCipher(keyring), BlindIndex(keyring), RecordingCipher(keyring))


class MasterKeyMissing(VaultKeyError):
    """No master key file where the settings say it is."""


def master_key_path(settings: Settings) -> Path:
    return settings.effective_master_key_file


def load_master_key(settings: Settings) -> MasterKey:
    """Load the configured master key; a missing or unreadable file raises with a one-line explanation."""
    path = master_key_path(settings)
    if not path.exists():
        raise MasterKeyMissing(
            f"master key file {path} does not exist; set CALLVAULT_MASTER_KEY_FILE to the installation's key, "
            "or create a new one with `callvault vault init-key` (new installations only)"
        )
    return MasterKey.from_file(path)


def check_master_key(kek: KeyEncryptionKey, store: SqlKeyStore) -> None:
    """Raise `VaultKeyError` unless `kek` is the master key that wrapped the stored tenant keys.

    The key id (a fingerprint) is the key check value; unwrapping one stored key proves it.
    """
    others = [k for k in store.kek_ids() if k != kek.key_id]
    if others:
        raise VaultKeyError(
            f"wrong master key: the loaded key is {kek.key_id} but the stored tenant keys were wrapped by "
            f"{', '.join(others)}; point CALLVAULT_MASTER_KEY_FILE at the right key file"
        )
    sample = store.any_key()
    if sample is not None:
        try:
            kek.unwrap(sample.wrapped, aad=wrap_aad(sample.tenant_id, sample.purpose, sample.version))
        except VaultKeyError:
            raise VaultKeyError(
                f"wrong master key: {kek.key_id} cannot unwrap the stored tenant keys (the key file or a key "
                "record was altered)"
            ) from None


def _key_engine(settings: Settings) -> Engine:
    """A small engine for key reads. On SQLite it does not take the write lock (the application engine begins
    every transaction IMMEDIATE): a key read on a cache miss must not wait for the request's own transaction."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        timeout = settings.sqlite_busy_timeout_ms / 1000
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": timeout})
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


class _Runtime:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kek: MasterKey | None = None
        self.engine: Engine | None = None
        self.vault: Vault | None = None


_runtime = _Runtime()


def master_key(settings: Settings | None = None) -> MasterKey:
    """The loaded master key (loaded once per process)."""
    with _runtime.lock:
        if _runtime.kek is None:
            _runtime.kek = load_master_key(settings or get_settings())
        return _runtime.kek


def require_master_key(settings: Settings | None = None) -> MasterKey:
    """Load the master key and check it against the stored keys; raises `VaultKeyError` with a clear message."""
    settings = settings or get_settings()
    kek = load_master_key(settings)
    engine = _key_engine(settings)
    try:
        check_master_key(kek, SqlKeyStore.for_engine(engine))
    finally:
        engine.dispose()
    with _runtime.lock:
        _runtime.kek = kek
    return kek


def stored_kek_ids(settings: Settings) -> list[str]:
    """Ids of the master keys that wrapped the stored tenant keys (empty for a new installation)."""
    engine = _key_engine(settings)
    try:
        return SqlKeyStore.for_engine(engine).kek_ids()
    finally:
        engine.dispose()


def vault() -> Vault:
    """The process-wide vault (created on first use from `get_settings()`)."""
    with _runtime.lock:
        if _runtime.vault is not None:
            return _runtime.vault
    settings = get_settings()
    kek = master_key(settings)
    with _runtime.lock:
        if _runtime.vault is None:
            _runtime.engine = _key_engine(settings)
            _runtime.vault = Vault.on(Keyring(kek, SqlKeyStore.for_engine(_runtime.engine)))
        return _runtime.vault


def session_vault(session: Session) -> Vault:
    """A vault whose key reads and writes happen inside `session`'s transaction (no cache beyond it)."""
    return Vault.on(Keyring(master_key(), SqlKeyStore.for_session(session)))


def provision_tenant_keys(session: Session, tenant_id: uuid.UUID) -> None:
    """Create the tenant's DATA and INDEX keys in `session`'s transaction if it has none (idempotent)."""
    session_vault(session).keyring.provision(tenant_id)


def forget_tenant(tenant_id: uuid.UUID) -> None:
    """Make this process's vault re-read a tenant's keys: call after committing a rotation or destruction done
    through `session_vault` (other processes notice within the keyring's cache time)."""
    with _runtime.lock:
        current = _runtime.vault
    if current is not None:
        current.keyring.forget(tenant_id)


def provision_missing_keys(session: Session, tenant_ids: list[uuid.UUID]) -> int:
    """Give keys to tenants created before the vault existed; crypto-shredded tenants are left alone.

    Returns how many tenants got keys. Runs in `session`'s transaction.
    """
    store = SqlKeyStore.for_session(session)
    keyring = Keyring(master_key(), store)
    created = 0
    for tenant_id in tenant_ids:
        tid = str(tenant_id)
        if store.is_destroyed(tid) or (store.versions(tid, KeyPurpose.DATA) and store.versions(tid, KeyPurpose.INDEX)):
            continue
        keyring.provision(tid)
        created += 1
    return created


def reset() -> None:
    """Forget the loaded master key and the process-wide vault (tests; after changing settings)."""
    with _runtime.lock:
        if _runtime.engine is not None:
            _runtime.engine.dispose()
        _runtime.kek = None
        _runtime.engine = None
        _runtime.vault = None
