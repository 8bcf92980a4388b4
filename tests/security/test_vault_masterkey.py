"""Master key files and data-key wrapping (SEC-26, SEC-30)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest

from callvault.security.vault import (
    MASTER_KEY_ENV,
    InMemoryKeyStore,
    KeyPurpose,
    Keyring,
    MasterKey,
    VaultKeyError,
)


@pytest.mark.sec("SEC-26")
def test_generate_writes_32_bytes_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = MasterKey.generate_to(path)
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_size == 32
    assert MasterKey.from_file(path).key_id == key.key_id


@pytest.mark.sec("SEC-26")
def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"existing")
    with pytest.raises(VaultKeyError, match="refusing to overwrite"):
        MasterKey.generate_to(path)
    assert path.read_bytes() == b"existing"


@pytest.mark.sec("SEC-26")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_load_refuses_group_or_other_permissions(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    MasterKey.generate_to(path)
    path.chmod(mode)
    with pytest.raises(VaultKeyError, match="chmod 600"):
        MasterKey.from_file(path)


@pytest.mark.sec("SEC-26")
@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_load_refuses_wrong_length(tmp_path: Path, size: int) -> None:
    path = tmp_path / "master.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, secrets.token_bytes(size))
    os.close(fd)
    with pytest.raises(VaultKeyError, match="exactly 32 bytes"):
        MasterKey.from_file(path)


def test_load_missing_file_and_env(tmp_path: Path) -> None:
    with pytest.raises(VaultKeyError, match="does not exist"):
        MasterKey.from_file(tmp_path / "nope")
    with pytest.raises(VaultKeyError, match=MASTER_KEY_ENV):
        MasterKey.from_env({})
    path = tmp_path / "k"
    key = MasterKey.generate_to(path)
    assert MasterKey.from_env({MASTER_KEY_ENV: str(path)}).key_id == key.key_id


def test_load_or_generate_creates_once(tmp_path: Path) -> None:
    path = tmp_path / "demo.key"
    first = MasterKey.load_or_generate(path)
    assert MasterKey.load_or_generate(path).key_id == first.key_id


def test_repr_never_shows_key_material() -> None:
    raw = secrets.token_bytes(32)
    text = repr(MasterKey(raw))
    assert raw.hex() not in text
    assert "key_id" in text


@pytest.mark.sec("SEC-26")
def test_wrong_master_key_is_a_clear_error() -> None:
    store = InMemoryKeyStore()
    Keyring(MasterKey(secrets.token_bytes(32)), store).provision("t")
    with pytest.raises(VaultKeyError, match="wrapped by"):
        Keyring(MasterKey(secrets.token_bytes(32)), store).current("t")


@pytest.mark.sec("SEC-26")
def test_same_key_id_but_altered_or_moved_record_fails_unwrap() -> None:
    master = MasterKey(secrets.token_bytes(32))
    store = InMemoryKeyStore()
    keyring = Keyring(master, store)
    keyring.provision("a")
    keyring.provision("b")
    # Copy tenant a's wrapped data key into tenant b's record: the AAD binds it to tenant a.
    a_key = store.get("a", KeyPurpose.DATA, 1)
    assert a_key is not None
    store.delete_version("b", KeyPurpose.DATA, 1)
    store.insert(type(a_key)("b", KeyPurpose.DATA, 1, a_key.kek_id, a_key.wrapped, a_key.created_at))
    with pytest.raises(VaultKeyError, match="could not be unwrapped"):
        Keyring(master, store).current("b")


@pytest.mark.sec("SEC-26")
def test_store_holds_no_raw_key_material() -> None:
    store = InMemoryKeyStore()
    keyring = Keyring(MasterKey(secrets.token_bytes(32)), store)
    keyring.provision("t")
    wrapped = store.get("t", KeyPurpose.DATA, 1)
    assert wrapped is not None
    assert len(wrapped.wrapped) == 1 + 12 + 32 + 16
    assert "wrapped=" not in repr(wrapped)
