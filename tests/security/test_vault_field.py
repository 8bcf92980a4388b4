"""Field encryption, rotation, re-encryption and crypto-shredding (SEC-07, SEC-25, SEC-28)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callvault.security.vault import (
    CiphertextTampered,
    FieldCipher,
    FieldContext,
    KeyDestroyed,
    Keyring,
    UnknownKey,
    VaultKeyError,
    key_version,
)
from tests.security.pii import CANARY_PHONE

from .conftest import TENANT_A, TENANT_B, make_keyring

KEYRING = make_keyring()
CIPHER = FieldCipher(KEYRING)
CTX = FieldContext(TENANT_A, "contact", "phone", "row-1")

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
contexts = st.builds(
    FieldContext,
    tenant_id=st.sampled_from([TENANT_A, TENANT_B]),
    table=names,
    column=names,
    row_id=st.one_of(names, st.integers(min_value=0)),
)


@pytest.mark.sec("SEC-25")
@given(plaintext=st.one_of(st.text(), st.binary()), context=contexts)
def test_round_trip(plaintext: str | bytes, context: FieldContext) -> None:
    blob = CIPHER.encrypt(plaintext, context=context)
    expected = plaintext.encode() if isinstance(plaintext, str) else plaintext
    assert CIPHER.decrypt(blob, context=context) == expected
    if isinstance(plaintext, str):
        assert CIPHER.decrypt_text(blob, context=context) == plaintext


@pytest.mark.sec("SEC-25")
@given(plaintext=st.binary(max_size=64), source=contexts, target=contexts)
def test_ciphertext_moved_to_other_context_never_decrypts(
    plaintext: bytes, source: FieldContext, target: FieldContext
) -> None:
    blob = CIPHER.encrypt(plaintext, context=source)
    if str(source.row_id) == str(target.row_id) and (source.tenant_id, source.table, source.column) == (
        target.tenant_id,
        target.table,
        target.column,
    ):
        assert CIPHER.decrypt(blob, context=target) == plaintext
    else:
        with pytest.raises(CiphertextTampered):
            CIPHER.decrypt(blob, context=target)


@pytest.mark.sec("SEC-25")
@given(plaintext=st.binary(max_size=64), bit=st.integers(min_value=0))
def test_any_bit_flip_is_detected(plaintext: bytes, bit: int) -> None:
    blob = bytearray(CIPHER.encrypt(plaintext, context=CTX))
    bit %= len(blob) * 8
    blob[bit // 8] ^= 1 << (bit % 8)
    # A flipped version field may point to a version that does not exist: also a refusal, never plaintext.
    with pytest.raises((CiphertextTampered, UnknownKey)):
        CIPHER.decrypt(bytes(blob), context=CTX)


@pytest.mark.sec("SEC-25")
@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02" + bytes(40), bytes(32)])
def test_malformed_ciphertext_is_refused(blob: bytes) -> None:
    with pytest.raises(CiphertextTampered):
        CIPHER.decrypt(blob, context=CTX)


@pytest.mark.sec("SEC-25")
def test_format_is_self_describing_and_nonces_do_not_repeat() -> None:
    blob = CIPHER.encrypt(CANARY_PHONE, context=CTX)
    assert blob[0] == 0x01
    assert key_version(blob) == 1
    assert len(blob) == 1 + 4 + 12 + 11 + 16
    nonces = {CIPHER.encrypt(b"x", context=CTX)[5:17] for _ in range(100_000)}
    assert len(nonces) == 100_000


def test_context_rejects_empty_parts() -> None:
    with pytest.raises(ValueError, match="table"):
        FieldContext(TENANT_A, "", "phone", 1)
    with pytest.raises(ValueError, match="row_id"):
        FieldContext(TENANT_A, "contact", "phone", "")


@pytest.mark.sec("SEC-28")
def test_rotate_twice_old_versions_decrypt_and_reencrypt_moves_all(keyring: Keyring) -> None:
    cipher = FieldCipher(keyring)
    blobs = []
    for version in (1, 2, 3):
        if version > 1:
            assert keyring.rotate(TENANT_A) == version
        ctx = FieldContext(TENANT_A, "contact", "id_number", f"row-{version}")
        blob = cipher.encrypt(f"value-{version}", context=ctx)
        assert key_version(blob) == version
        blobs.append((ctx, blob))
    for version, (ctx, blob) in enumerate(blobs, start=1):
        assert cipher.decrypt_text(blob, context=ctx) == f"value-{version}"
    moved = [(ctx, cipher.reencrypt(blob, context=ctx)) for ctx, blob in blobs]
    assert {key_version(b) for _, b in moved} == {3}
    assert not any(cipher.needs_reencrypt(b, tenant_id=TENANT_A) for _, b in moved)
    assert moved[2][1] == blobs[2][1]  # already current: untouched
    keyring.retire(TENANT_A, 1)
    keyring.retire(TENANT_A, 2)
    assert keyring.versions(TENANT_A) == [3]
    for version, (ctx, blob) in enumerate(moved, start=1):
        assert cipher.decrypt_text(blob, context=ctx) == f"value-{version}"
    with pytest.raises(UnknownKey):
        cipher.decrypt(blobs[0][1], context=blobs[0][0])
    with pytest.raises(VaultKeyError, match="current"):
        keyring.retire(TENANT_A, 3)


@pytest.mark.sec("SEC-28")
def test_rotation_is_per_tenant(keyring: Keyring) -> None:
    keyring.rotate(TENANT_A)
    assert keyring.current(TENANT_A).version == 2
    assert keyring.current(TENANT_B).version == 1


@pytest.mark.sec("SEC-07")
def test_destroy_makes_every_ciphertext_of_the_tenant_undecryptable(keyring: Keyring) -> None:
    cipher = FieldCipher(keyring)
    ctx_a = FieldContext(TENANT_A, "contact", "phone", 1)
    ctx_b = FieldContext(TENANT_B, "contact", "phone", 1)
    old = cipher.encrypt(CANARY_PHONE, context=ctx_a)
    keyring.rotate(TENANT_A)
    new = cipher.encrypt(CANARY_PHONE, context=ctx_a)
    other = cipher.encrypt(CANARY_PHONE, context=ctx_b)
    keyring.destroy(TENANT_A)
    for blob in (old, new):
        with pytest.raises(KeyDestroyed):
            cipher.decrypt(blob, context=ctx_a)
    with pytest.raises(KeyDestroyed):
        cipher.encrypt("x", context=ctx_a)
    with pytest.raises(KeyDestroyed):
        keyring.provision(TENANT_A)
    assert cipher.decrypt_text(other, context=ctx_b) == CANARY_PHONE


def test_destroy_reaches_other_processes_after_cache_ttl() -> None:
    now = [0.0]
    base = make_keyring()
    store = base.store
    # Two keyrings on one store stand for two processes sharing the database.
    kek = base._kek
    worker = Keyring(kek, store, cache_ttl=60, clock=lambda: now[0])
    admin = Keyring(kek, store)
    ctx = FieldContext(TENANT_A, "t", "c", 1)
    blob = FieldCipher(worker).encrypt("v", context=ctx)
    admin.destroy(TENANT_A)
    now[0] = 61
    with pytest.raises(KeyDestroyed):
        FieldCipher(worker).decrypt(blob, context=ctx)


def test_unprovisioned_tenant_is_refused() -> None:
    with pytest.raises(UnknownKey):
        CIPHER.encrypt("x", context=FieldContext("nobody", "t", "c", 1))


def test_uuid_tenant_and_row_ids_are_used_in_string_form() -> None:
    tenant, row = uuid.uuid4(), uuid.uuid4()
    keyring = make_keyring()
    keyring.provision(tenant)
    cipher = FieldCipher(keyring)
    blob = cipher.encrypt("x", context=FieldContext(tenant, "contact", "phone", row))
    assert cipher.decrypt_text(blob, context=FieldContext(str(tenant), "contact", "phone", str(row))) == "x"
    assert keyring.versions(str(tenant)) == [1]


def test_associated_data_layout_is_stable() -> None:
    header = bytes([1, 0, 0, 0, 2]) + bytes(12)
    ctx = FieldContext(TENANT_A, "contact", "phone", 42)
    expected = b"".join(
        len(p).to_bytes(4, "big") + p
        for p in (b"callvault/field/v1", TENANT_A.encode(), b"contact", b"phone", b"42", header)
    )
    assert ctx.aad(header) == expected
