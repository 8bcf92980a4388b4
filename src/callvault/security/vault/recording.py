"""Streaming encryption of call recordings: chunked AES-256-GCM under a fresh per-file key.

Layout (version 1)::

    "CVR" 0x01 | data-key version (u32) | chunk size (u32) | wrapped-key length (u16) | wrapped file key
    chunk 0 | chunk 1 | ... | final chunk

Each chunk is ``AES-GCM(file_key, nonce=index (u64) || 0x00000000, aad=(file id, index, final flag))`` of
`chunk_size` plaintext bytes (the final chunk is shorter, possibly empty). A dropped, repeated, reordered or
cut-off chunk fails authentication, and a file whose final chunk is missing is reported as truncated.
The file key is wrapped by the tenant's data key, bound to tenant, file id, key version and chunk size.
Nonces may be counters because every file has its own random key.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callvault.security.errors import CiphertextTampered
from callvault.security.vault.framing import pack_parts
from callvault.security.vault.keyring import Keyring, TenantId, TenantKey

MAGIC: Final = b"CVR\x01"
DEFAULT_CHUNK_SIZE: Final = 64 * 1024
_TAG: Final = 16
_FIXED = struct.Struct(">4sIIH")


@dataclass(frozen=True, slots=True)
class FileContext:
    """Identity of one recording: the file only decrypts for this tenant and file id."""

    tenant_id: TenantId
    file_id: str | uuid.UUID

    def __post_init__(self) -> None:
        if not str(self.tenant_id) or not str(self.file_id):
            raise ValueError("FileContext needs a tenant_id and a file_id")


@dataclass(frozen=True, slots=True)
class FileDigest:
    """What to store (and append to the audit chain) after encrypting a recording."""

    key_version: int
    plaintext_bytes: int
    ciphertext_bytes: int
    plaintext_sha256: str
    ciphertext_sha256: str


def _chunk_nonce(index: int) -> bytes:
    return struct.pack(">Q", index) + b"\x00\x00\x00\x00"


def _chunk_aad(context: FileContext, index: int, final: bool) -> bytes:
    flag = b"\x01" if final else b"\x00"
    return pack_parts("callvault/recording-chunk/v1", str(context.file_id), index, flag)


def _key_aad(context: FileContext, version: int, chunk_size: int) -> bytes:
    tenant, file_id = str(context.tenant_id), str(context.file_id)
    return pack_parts("callvault/recording-key/v1", tenant, file_id, version, chunk_size)


def _header(tenant_key: TenantKey, file_key: bytes, context: FileContext, chunk_size: int) -> bytes:
    assert tenant_key.file_kek is not None  # DATA keys always carry it
    nonce = secrets.token_bytes(12)
    aad = _key_aad(context, tenant_key.version, chunk_size)
    wrapped = nonce + tenant_key.file_kek.encrypt(nonce, file_key, aad)
    return _FIXED.pack(MAGIC, tenant_key.version, chunk_size, len(wrapped)) + wrapped


class RecordingCipher:
    """Encrypts and decrypts recordings as streams, in constant memory."""

    def __init__(self, keyring: Keyring, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not 16 <= chunk_size <= 16 * 1024 * 1024:
            raise ValueError("chunk_size must be between 16 bytes and 16 MiB")
        self._keyring = keyring
        self._chunk_size = chunk_size

    def encrypt_stream(self, chunks: Iterable[bytes], *, context: FileContext) -> Iterator[bytes]:
        """Yield the header then encrypted chunks for plaintext pieces of any size."""
        file_key = AESGCM.generate_key(bit_length=256)
        yield _header(self._keyring.current(context.tenant_id), file_key, context, self._chunk_size)
        aead = AESGCM(file_key)
        size = self._chunk_size
        buf = bytearray()
        index = 0
        for piece in chunks:
            buf += piece
            # Keep at least one byte back so the final chunk is always shorter than `size`.
            while len(buf) > size:
                yield aead.encrypt(_chunk_nonce(index), bytes(buf[:size]), _chunk_aad(context, index, False))
                del buf[:size]
                index += 1
        if len(buf) == size:
            yield aead.encrypt(_chunk_nonce(index), bytes(buf), _chunk_aad(context, index, False))
            buf.clear()
            index += 1
        yield aead.encrypt(_chunk_nonce(index), bytes(buf), _chunk_aad(context, index, True))

    def encrypt_file(self, src: BinaryIO, dst: BinaryIO, *, context: FileContext) -> FileDigest:
        """Encrypt `src` into `dst`, returning sizes and SHA-256 of plaintext and ciphertext."""
        plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
        counts = [0, 0]

        def pieces() -> Iterator[bytes]:
            while piece := src.read(self._chunk_size):
                plain_hash.update(piece)
                counts[0] += len(piece)
                yield piece

        version = -1
        for out in self.encrypt_stream(pieces(), context=context):
            if version < 0:
                version = _FIXED.unpack_from(out)[1]
            cipher_hash.update(out)
            counts[1] += len(out)
            dst.write(out)
        return FileDigest(version, counts[0], counts[1], plain_hash.hexdigest(), cipher_hash.hexdigest())

    def rewrap_header(self, header: bytes, *, context: FileContext) -> bytes:
        """Re-wrap a recording's file key under the tenant's current data key, without touching the audio.

        `header` must start with the file's first `header_length(header)` bytes; the result has the same
        length, so the prefix can be replaced in place and the old key version retired afterwards.
        """
        version, chunk_size, file_key = self._open_header(header, context)
        n = header_length(header)
        current = self._keyring.current(context.tenant_id)
        if current.version == version:
            return header[:n]
        new = _header(current, file_key, context, chunk_size)
        if len(new) != n:
            raise CiphertextTampered("recording header has an unexpected length")
        return new

    def _open_header(self, header: bytes, context: FileContext) -> tuple[int, int, bytes]:
        if len(header) < _FIXED.size:
            raise CiphertextTampered("recording header is truncated")
        magic, version, chunk_size, wrapped_len = _FIXED.unpack_from(header)
        if magic != MAGIC:
            raise CiphertextTampered("not a CallVault recording (bad magic)")
        wrapped = header[_FIXED.size : _FIXED.size + wrapped_len]
        tenant_key = self._keyring.get(context.tenant_id, version)
        assert tenant_key.file_kek is not None
        try:
            file_key = tenant_key.file_kek.decrypt(wrapped[:12], wrapped[12:], _key_aad(context, version, chunk_size))
        except (InvalidTag, ValueError):
            raise CiphertextTampered("recording key failed authentication (other tenant or file)") from None
        return version, chunk_size, file_key

    def decrypt_stream(self, src: BinaryIO, *, context: FileContext) -> Iterator[bytes]:
        """Yield plaintext chunks; raise `CiphertextTampered` on any modification or truncation.

        Chunks are released as they authenticate, so a consumer that streams audio must treat an exception
        at any point (including after the last yielded chunk) as a failed playback.
        """
        fixed = _read_exact(src, _FIXED.size)
        wrapped_len = _FIXED.unpack_from(fixed)[3] if len(fixed) == _FIXED.size else 0
        _, chunk_size, file_key = self._open_header(fixed + _read_exact(src, wrapped_len), context)
        aead = AESGCM(file_key)
        index = 0
        while True:
            block = _read_exact(src, chunk_size + _TAG)
            final = len(block) < chunk_size + _TAG
            if final and len(block) < _TAG:
                raise CiphertextTampered(f"recording is truncated at chunk {index}")
            try:
                plain = aead.decrypt(_chunk_nonce(index), block, _chunk_aad(context, index, final))
            except InvalidTag:
                raise CiphertextTampered(f"recording chunk {index} failed authentication") from None
            if final:
                if src.read(1):
                    raise CiphertextTampered("data after the final recording chunk")
                if plain:
                    yield plain
                return
            yield plain
            index += 1


def header_length(data: bytes) -> int:
    """Length of the recording header at the start of `data` (needs at least 14 bytes)."""
    if len(data) < _FIXED.size:
        raise CiphertextTampered("recording header is truncated")
    return int(_FIXED.size + _FIXED.unpack_from(data)[3])


def _read_exact(src: BinaryIO, n: int) -> bytes:
    """Read up to `n` bytes, looping over short reads (pipes, sockets); shorter only at end of stream."""
    parts: list[bytes] = []
    remaining = n
    while remaining > 0:
        piece = src.read(remaining)
        if not piece:
            break
        parts.append(piece)
        remaining -= len(piece)
    return b"".join(parts)
