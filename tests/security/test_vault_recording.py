"""Streaming recording encryption (SEC-43, SEC-45)."""

from __future__ import annotations

import hashlib
import io
import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.security.vault import (
    CiphertextTampered,
    FileContext,
    KeyDestroyed,
    Keyring,
    RecordingCipher,
    UnknownKey,
)
from callvault.security.vault.recording import header_length

from .conftest import TENANT_A, TENANT_B, make_keyring

KEYRING = make_keyring()
CHUNK = 64
CIPHER = RecordingCipher(KEYRING, chunk_size=CHUNK)
CTX = FileContext(TENANT_A, "rec-1")


def encrypt(data: bytes, ctx: FileContext = CTX, cipher: RecordingCipher = CIPHER) -> bytes:
    out = io.BytesIO()
    cipher.encrypt_file(io.BytesIO(data), out, context=ctx)
    return out.getvalue()


def decrypt(blob: bytes, ctx: FileContext = CTX, cipher: RecordingCipher = CIPHER) -> bytes:
    return b"".join(cipher.decrypt_stream(io.BytesIO(blob), context=ctx))


def split(blob: bytes) -> tuple[bytes, list[bytes]]:
    header_len = 14 + int.from_bytes(blob[12:14], "big")
    body = blob[header_len:]
    return blob[:header_len], [body[i : i + CHUNK + 16] for i in range(0, len(body), CHUNK + 16)]


@pytest.mark.sec("SEC-43")
@given(data=st.binary(max_size=CHUNK * 5), pieces=st.integers(min_value=1, max_value=7))
def test_round_trip_any_size_and_piece_boundaries(data: bytes, pieces: int) -> None:
    step = max(1, math.ceil(len(data) / pieces))
    stream = CIPHER.encrypt_stream((data[i : i + step] for i in range(0, len(data), step)), context=CTX)
    assert decrypt(b"".join(stream)) == data


@pytest.mark.sec("SEC-43")
def test_digest_and_ciphertext_look_random() -> None:
    data = b"RIFF" + bytes(4) + b"WAVEfmt " + bytes(20_000)
    out = io.BytesIO()
    digest = RecordingCipher(KEYRING).encrypt_file(io.BytesIO(data), out, context=CTX)
    blob = out.getvalue()
    assert digest.plaintext_sha256 == hashlib.sha256(data).hexdigest()
    assert digest.ciphertext_sha256 == hashlib.sha256(blob).hexdigest()
    assert (digest.plaintext_bytes, digest.ciphertext_bytes, digest.key_version) == (len(data), len(blob), 1)
    assert b"RIFF" not in blob
    assert b"WAVE" not in blob
    counts = Counter(blob[100:])
    entropy = -sum(c / (len(blob) - 100) * math.log2(c / (len(blob) - 100)) for c in counts.values())
    assert entropy > 7.9


@pytest.mark.sec("SEC-43")
@settings(max_examples=50)
@given(data=st.binary(min_size=CHUNK * 2 + 1, max_size=CHUNK * 6), which=st.data())
def test_chunk_drop_swap_duplicate_and_truncation_are_detected(data: bytes, which: st.DataObject) -> None:
    header, chunks = split(encrypt(data))
    n = len(chunks)
    i = which.draw(st.integers(min_value=0, max_value=n - 1))
    j = which.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda x: x != i))
    dropped = chunks[:i] + chunks[i + 1 :]
    swapped = list(chunks)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    duplicated = [*chunks[: i + 1], chunks[i], *chunks[i + 1 :]]
    cut = which.draw(st.integers(min_value=0, max_value=len(header) + sum(map(len, chunks)) - 1))
    for variant in (
        header + b"".join(dropped),
        header + b"".join(swapped),
        header + b"".join(duplicated),
        (header + b"".join(chunks))[:cut],
        header + b"".join(chunks) + b"\x00",
    ):
        with pytest.raises(CiphertextTampered):
            decrypt(variant)


@pytest.mark.sec("SEC-43")
def test_file_moved_to_other_file_id_or_tenant_fails() -> None:
    blob = encrypt(b"audio" * 100)
    with pytest.raises(CiphertextTampered):
        decrypt(blob, FileContext(TENANT_A, "rec-2"))
    with pytest.raises(CiphertextTampered):
        decrypt(blob, FileContext(TENANT_B, "rec-1"))
    with pytest.raises(CiphertextTampered):
        decrypt(b"XXXX" + blob[4:])


@pytest.mark.sec("SEC-45")
def test_rotation_keeps_old_recordings_and_destroy_shreds_them(keyring: Keyring) -> None:
    cipher = RecordingCipher(keyring, chunk_size=CHUNK)
    old = encrypt(b"old" * 50, cipher=cipher)
    keyring.rotate(TENANT_A)
    new = encrypt(b"new" * 50, cipher=cipher)
    assert decrypt(old, cipher=cipher) == b"old" * 50
    assert decrypt(new, cipher=cipher) == b"new" * 50
    keyring.destroy(TENANT_A)
    for blob in (old, new):
        with pytest.raises(KeyDestroyed):
            decrypt(blob, cipher=cipher)


def test_chunk_size_bounds() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        RecordingCipher(KEYRING, chunk_size=8)


@pytest.mark.sec("SEC-28")
def test_rewrap_header_moves_recording_to_current_key_in_place(keyring: Keyring) -> None:
    cipher = RecordingCipher(keyring, chunk_size=CHUNK)
    data = b"audio" * 40
    blob = encrypt(data, cipher=cipher)
    n = header_length(blob)
    assert cipher.rewrap_header(blob[:n], context=CTX) == blob[:n]  # already current
    keyring.rotate(TENANT_A)
    new_header = cipher.rewrap_header(blob[:n], context=CTX)
    assert len(new_header) == n
    assert new_header != blob[:n]
    keyring.retire(TENANT_A, 1)
    with pytest.raises(UnknownKey):
        decrypt(blob, cipher=cipher)
    assert decrypt(new_header + blob[n:], cipher=cipher) == data
    with pytest.raises(CiphertextTampered):
        cipher.rewrap_header(new_header, context=FileContext(TENANT_A, "other-file"))
