"""Offboarding locks the institution out at once; recordings are handed back as WAV and shredded."""

from __future__ import annotations

import io
import os
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from callvault.config import get_settings
from callvault.core.db import Database
from callvault.offboarding import recordings
from callvault.offboarding.export import run_export
from callvault.offboarding.manifest import verify_export
from callvault.offboarding.recordings import StoredRecording, decrypting_reader, tenant_files_dir
from callvault.offboarding.service import start_offboarding
from callvault.security.errors import KeyDestroyed
from callvault.security.vault import FileContext, Keyring, MasterKey, RecordingCipher
from callvault.security.vault.runtime import vault
from callvault.security.vault.sqlstore import SqlKeyStore
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.offboarding.test_offboard import _offboard
from tests.test_hmac_clients import _signed

pytestmark = pytest.mark.sec("SEC-07")


def test_offboarding_locks_out_sessions_logins_and_api_clients_before_anything_is_destroyed(
    db: Database, world: World, login: Any, client: TestClient
) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    created = admin.post("/api/v1/api-clients", json={"name": "core-banking", "permissions": ["user.read"]})
    assert created.status_code == 201, created.text
    creds = created.json()
    assert _signed(client, creds, "GET", "/api/v1/auth/me").status_code == 200

    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
        start_offboarding(session, actor=actor, slug=inst.slug, without_export=True)

    assert admin.get("/api/v1/auth/me").status_code == 401
    assert _signed(client, creds, "GET", "/api/v1/auth/me").status_code in (401, 403)
    account = inst.accounts["admin"]
    relogin = client.post(
        "/api/v1/auth/login",
        json={"institution": inst.slug, "username": account.username, "password": account.password},
    )
    assert relogin.status_code in (401, 403)
    # The operator cannot reopen it while it is being offboarded.
    operator = login(world.operator_user())
    reopen = operator.patch(f"/api/v1/tenants/{inst.id}", json={"status": "active"})
    assert reopen.status_code == 409
    _offboard(db, inst.slug)


def _wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    frames = b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(int(seconds * rate)))
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(frames))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", len(frames))
    )
    return header + frames


def _files_source(session: Session, tenant_id: uuid.UUID) -> Iterator[StoredRecording]:
    """What a recording store registers: every encrypted file under the tenant's recordings directory."""
    directory = tenant_files_dir(get_settings(), tenant_id) / "recordings"
    for path in sorted(directory.glob("*.cvr")) if directory.exists() else []:
        yield StoredRecording(file_id=path.stem, path=path, size=None)


@pytest.fixture
def recording_source() -> Iterator[None]:
    recordings.register_source(_files_source)
    yield
    recordings.unregister_source(_files_source)


def test_recordings_are_exported_as_wav_and_unreadable_after_offboarding(
    db: Database, world: World, tmp_path: Path, recording_source: None
) -> None:
    inst = world.institution(roles=())
    directory = tenant_files_dir(get_settings(), inst.id) / "recordings"
    directory.mkdir(parents=True)
    audio = _wav()
    file_id = str(uuid.uuid4())
    with (directory / f"{file_id}.cvr").open("wb") as dst:
        vault().recordings.encrypt_file(io.BytesIO(audio), dst, context=FileContext(inst.id, file_id))
    kept_copy = (directory / f"{file_id}.cvr").read_bytes()

    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
    out = tmp_path / "export"
    run_export(db, actor=actor, slug=inst.slug, out_dir=out, recordings=decrypting_reader(vault().recordings))
    assert (out / "recordings" / f"{file_id}.wav").read_bytes() == audio
    result = verify_export(out)
    assert result.ok, result.problems
    entry = next(f for f in result.manifest["files"] if f["kind"] == "recording")
    assert entry["bytes"] == len(audio)

    offboarded = _offboard(db, inst.slug)
    assert offboarded.files_deleted == 1 and not directory.exists()
    fresh = Keyring(MasterKey.from_file(os.environ["CALLVAULT_MASTER_KEY_FILE"]), SqlKeyStore.for_engine(db.engine))
    with pytest.raises(KeyDestroyed):
        b"".join(RecordingCipher(fresh).decrypt_stream(io.BytesIO(kept_copy), context=FileContext(inst.id, file_id)))
