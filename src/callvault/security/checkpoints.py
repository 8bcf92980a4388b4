"""Ed25519-signed checkpoints of a tenant's audit chain head, and when to take them.

A checkpoint signs ``canonical_json({"type", "tenant_id", "seq", "hash", "at", "key_id"})``. Checkpoints are
copied off the database (to the institution, object storage, e-mail) so an operator who can rewrite the
audit table cannot also rewrite the witnesses.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from callvault.security.canonical import canonical_json, format_time, parse_time
from callvault.security.errors import VaultKeyError
from callvault.security.keyfiles import read_private_file, write_private_file

if TYPE_CHECKING:
    from callvault.security.auditchain import ChainHead

CHECKPOINT_TYPE: Final = "callvault.audit.checkpoint.v1"


def public_key_id(public_key: Ed25519PublicKey) -> str:
    """``ed25519:`` + the first 16 hex digits of SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def load_public_key_pem(pem: bytes) -> Ed25519PublicKey:
    """Load the PEM (SubjectPublicKeyInfo) public key an institution was given."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise VaultKeyError("checkpoint public key is not an Ed25519 key")
    return key


def checkpoint_payload(tenant_id: str, seq: int, chain_hash: str, at: datetime, key_id: str) -> bytes:
    """The exact bytes that are signed."""
    return canonical_json(
        {
            "type": CHECKPOINT_TYPE,
            "tenant_id": tenant_id,
            "seq": seq,
            "hash": chain_hash,
            "at": format_time(at),
            "key_id": key_id,
        }
    )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement "the chain of `tenant_id` had head `hash` at `seq`, at time `at`"."""

    tenant_id: str
    seq: int
    hash: str
    at: datetime
    key_id: str
    signature: bytes

    def payload(self) -> bytes:
        """The signed bytes."""
        return checkpoint_payload(self.tenant_id, self.seq, self.hash, self.at, self.key_id)

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """True if the signature is valid and was made by `public_key`."""
        if self.key_id != public_key_id(public_key):
            return False
        try:
            public_key.verify(self.signature, self.payload())
        except InvalidSignature:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready export; the signature is standard base64."""
        return {
            "type": CHECKPOINT_TYPE,
            "tenant_id": self.tenant_id,
            "seq": self.seq,
            "hash": self.hash,
            "at": format_time(self.at),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Inverse of `to_dict`."""
        return cls(
            tenant_id=str(data["tenant_id"]),
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            at=parse_time(str(data["at"])),
            key_id=str(data["key_id"]),
            signature=base64.b64decode(str(data["signature"]), validate=True),
        )


class CheckpointSigner:
    """Signs checkpoints with an Ed25519 private key kept in a 0600 PEM file."""

    __slots__ = ("_key", "_key_id")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._key_id = public_key_id(private_key.public_key())

    def __repr__(self) -> str:
        return f"CheckpointSigner(key_id={self._key_id!r})"

    @classmethod
    def generate(cls) -> CheckpointSigner:
        """A signer with a fresh in-memory key (tests, benchmarks)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def generate_to(cls, path: str | os.PathLike[str]) -> CheckpointSigner:
        """Create a new key as an unencrypted PKCS#8 PEM file with mode 0600; never overwrites."""
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private_file(path, pem, what="checkpoint signing key")
        return cls(key)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CheckpointSigner:
        """Load a PKCS#8 PEM Ed25519 key from a file only its owner can read."""
        pem = read_private_file(path, what="checkpoint signing key", max_bytes=4096)
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise VaultKeyError(f"checkpoint signing key file {path} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise VaultKeyError(f"checkpoint signing key file {path} is not an Ed25519 key")
        return cls(key)

    @property
    def key_id(self) -> str:
        """Identifier of the public key, stored in every checkpoint."""
        return self._key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The verification key."""
        return self._key.public_key()

    def public_key_pem(self) -> bytes:
        """The verification key as PEM (SubjectPublicKeyInfo), to hand to the institution."""
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign_bytes(self, document: bytes) -> bytes:
        """Raw 64-byte Ed25519 signature of a document (export manifests, destruction certificates)."""
        return self._key.sign(document)

    def sign(self, head: ChainHead, *, at: datetime) -> Checkpoint:
        """Sign the chain head."""
        payload = checkpoint_payload(head.tenant_id, head.seq, head.hash, at, self._key_id)
        return Checkpoint(head.tenant_id, head.seq, head.hash, at, self._key_id, self._key.sign(payload))


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """Take a checkpoint every `every_records` records or `every_seconds` seconds, whichever comes first."""

    every_records: int = 1000
    every_seconds: float = 300.0

    def due(self, *, head_seq: int, last: Checkpoint | None, now: datetime) -> bool:
        """True if records were appended since `last` and one of the limits is reached."""
        last_seq = last.seq if last is not None else 0
        if head_seq <= last_seq:
            return False
        if last is None or head_seq - last_seq >= self.every_records:
            return True
        return (now - last.at).total_seconds() >= self.every_seconds
