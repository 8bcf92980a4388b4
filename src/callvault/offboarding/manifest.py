"""The signed manifest of an export, and its verification.

``manifest.json`` lists every file with its row count, size and SHA-256; ``manifest.sig`` is the raw 64-byte
Ed25519 signature of the exact bytes of ``manifest.json``, made with the installation's audit signing key,
whose public half is ``signing-public-key.pem``. docs/tenant-offboarding.md shows how to check both with
openssl and sha256sum alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from callvault.offboarding.files import sha256_of
from callvault.security.checkpoints import load_public_key_pem, public_key_id

MANIFEST_TYPE: Final = "callvault.tenant-export.v1"
MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.sig"
PUBLIC_KEY: Final = "signing-public-key.pem"


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The stored form: readable (indented, sorted keys, UTF-8); the signature covers exactly these bytes."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass
class ExportVerification:
    """Result of checking an export directory against its manifest."""

    ok: bool = True
    files_checked: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def verify_export(directory: Path, *, public_key: Ed25519PublicKey | None = None) -> ExportVerification:
    """Check the manifest signature and every file's size and SHA-256.

    Without `public_key` the key shipped in the directory is used; pass the key from your contract to make
    sure the export was signed by the platform and not re-signed by someone else.
    """
    result = ExportVerification()
    try:
        raw = (directory / MANIFEST).read_bytes()
        signature = (directory / SIGNATURE).read_bytes()
        key = public_key or load_public_key_pem((directory / PUBLIC_KEY).read_bytes())
    except (OSError, ValueError) as exc:
        result.fail(f"cannot read the manifest, signature or public key: {exc}")
        return result
    try:
        key.verify(signature, raw)
    except InvalidSignature:
        result.fail("manifest signature does not verify")
        return result
    manifest: dict[str, Any] = json.loads(raw)
    result.manifest = manifest
    if manifest.get("type") != MANIFEST_TYPE:
        result.fail(f"not a CallVault export manifest (type {manifest.get('type')!r})")
    if manifest.get("signing_key_id") != public_key_id(key):
        result.fail("manifest names another signing key")
    for entry in manifest.get("files", []):
        found = sha256_of(directory / entry["path"])
        result.files_checked += 1
        result.rows += int(entry.get("rows") or 0)
        if found is None:
            result.fail(f"{entry['path']}: missing")
        elif (found.size, found.sha256) != (entry["bytes"], entry["sha256"]):
            result.fail(f"{entry['path']}: size or SHA-256 differs from the manifest")
    return result
