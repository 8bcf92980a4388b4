"""Recordings: encrypted at rest, plaintext removed, reruns idempotent, playback with a reason, Range support,
tampering detected and audited, downloads audited as exports, recordings handed back by the tenant export."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callvault.config import get_settings
from callvault.core.db import Database
from callvault.core.errors import InvalidInput
from callvault.core.tenant_context import set_tenant
from callvault.identity import service as identity
from callvault.identity.schemas import RoleCreate, UserCreate
from callvault.interactions import recordings
from callvault.interactions.models import InteractionLeg, Recording
from callvault.interactions.recordings import RangeNotSatisfiable, parse_range
from callvault.interactions.schemas import RecordingRead
from callvault.offboarding.export import run_export
from callvault.offboarding.manifest import verify_export
from callvault.offboarding.recordings import tenant_files_dir
from callvault.security.audit_models import AuditEvent
from callvault.security.rekey import reencrypt_tenant, rotate_data_key
from callvault.tenancy import service as tenancy
from tests.fixtures import PASSWORD, Account, World
from tests.interactions.helpers import actor_of, ended_call, spoken_wav


def _store(db: Database, slug: str, source: Path, interaction_id: uuid.UUID, call_id: str) -> RecordingRead:
    actor = actor_of(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        return recordings.store_recording(
            session,
            actor=actor,
            interaction_id=interaction_id,
            source=source,
            engine_recording_id="rec-1",
            call_id=call_id,
            duration_ms=2500,
        )


def _stored_path(tenant_id: uuid.UUID, recording_id: uuid.UUID, db: Database) -> Path:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        row = session.get(Recording, recording_id)
        assert row is not None
        return tenant_files_dir(get_settings(), tenant_id) / row.storage_path


def _audit(db: Database, tenant_id: uuid.UUID, action: str) -> list[AuditEvent]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def stored(world: World, db: Database, tmp_path: Path) -> tuple[Any, RecordingRead, bytes]:
    inst = world.institution(roles=("supervisor",))
    interaction_id, call_id = ended_call(db, inst.slug)
    source = spoken_wav(tmp_path / "worker" / "rec-1.wav")
    audio = source.read_bytes()
    return inst, _store(db, inst.slug, source, interaction_id, call_id), audio


def test_store_encrypts_into_the_tenant_directory_and_removes_the_plaintext(
    stored: tuple[Any, RecordingRead, bytes], db: Database, tmp_path: Path
) -> None:
    inst, rec, audio = stored
    path = _stored_path(inst.id, rec.id, db)
    assert path.is_relative_to(tenant_files_dir(get_settings(), inst.id))
    ciphertext = path.read_bytes()
    assert ciphertext.startswith(b"CVR\x01") and b"RIFF" not in ciphertext and b"WAVE" not in ciphertext
    assert not (tmp_path / "worker" / "rec-1.wav").exists()
    assert rec.size_bytes == len(audio) and rec.duration_ms == 2500 and rec.key_version == 1
    with db.scoped() as session:
        set_tenant(session, inst.id)
        leg = session.scalars(select(InteractionLeg)).one()
        assert leg.recording_id == rec.id
    (stored_audit,) = _audit(db, inst.id, "recording.store")
    assert stored_audit.details["sha256"] == rec.sha256


def test_rerun_after_a_crash_is_idempotent(
    stored: tuple[Any, RecordingRead, bytes], db: Database, tmp_path: Path
) -> None:
    inst, rec, audio = stored
    with db.scoped() as session:
        set_tenant(session, inst.id)
        interaction_id = session.scalars(select(Recording.interaction_id)).one()
    # Crash after commit, before the plaintext was deleted: the worker hands over the same file again.
    again = tmp_path / "worker" / "rec-1.wav"
    again.write_bytes(audio)
    second = _store(db, inst.slug, again, interaction_id, "ignored")
    assert second.id == rec.id and not again.exists()
    # The plaintext is already gone: the stored row is the answer.
    assert _store(db, inst.slug, again, interaction_id, "ignored").id == rec.id
    # Crash mid-encryption: a half-written temporary file is replaced, never played.
    path = _stored_path(inst.id, rec.id, db)
    path.with_name(path.name + ".tmp").write_bytes(b"CVR\x01 half")
    with db.scoped() as session:
        set_tenant(session, inst.id)
        assert len(session.scalars(select(Recording)).all()) == 1
    assert len(_audit(db, inst.id, "recording.store")) == 1


def test_a_file_that_is_not_wav_is_refused_and_kept(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    interaction_id, _ = ended_call(db, inst.slug)
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"not audio at all")
    actor = actor_of(db, inst.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        with pytest.raises(InvalidInput, match="WAV"):
            recordings.store_recording(
                session,
                actor=actor,
                interaction_id=interaction_id,
                source=bogus,
                engine_recording_id="rec-x",
            )
    assert bogus.exists()


def test_stream_needs_a_reason_plays_decrypted_audio_with_ranges_and_audits_each_playback(
    stored: tuple[Any, RecordingRead, bytes], db: Database, login: Any
) -> None:
    inst, rec, audio = stored
    s = login(inst.accounts["supervisor"])
    url = f"/api/v1/recordings/{rec.id}/stream"

    missing = s.get(url)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"

    full = s.get(url, params={"reason": "complaint 4711"})
    assert full.status_code == 200, full.text
    assert full.content == audio
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["content-disposition"].startswith("inline")
    assert full.headers["cache-control"] == "no-store"
    assert full.headers["accept-ranges"] == "bytes"

    part = s.get(url, params={"reason": "complaint 4711"}, headers={"Range": "bytes=100000-100099"})
    assert part.status_code == 206
    assert part.content == audio[100000:100100]
    assert part.headers["content-range"] == f"bytes 100000-100099/{len(audio)}"
    tail = s.get(url, params={"reason": "complaint 4711"}, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == audio[-10:]
    beyond = s.get(url, params={"reason": "complaint 4711"}, headers={"Range": f"bytes={len(audio)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(audio)}"
    assert beyond.headers["content-type"] == "application/problem+json"

    played = _audit(db, inst.id, "recording.play")
    assert len(played) == 3
    assert {p.details["reason"] for p in played} == {"complaint 4711"}
    assert {p.details.get("range") for p in played} == {None, "100000-100099", f"{len(audio) - 10}-{len(audio) - 1}"}

    # Playing is not downloading.
    assert s.get(f"/api/v1/recordings/{rec.id}/download", params={"reason": "x" * 5}).status_code == 403


def _downloader(world: World, db: Database, slug: str) -> Account:
    actor = actor_of(db, slug)
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        role = identity.create_role(
            session,
            actor=actor,
            data=RoleCreate(name="records-officer", permissions=["recording.download"], requires_mfa=False),
        )
        user = identity.create_user(
            session, actor=actor, data=UserCreate(username="records-officer", password=PASSWORD, role_ids=[role.id])
        )
    return Account(inst.slug, user.username, PASSWORD, user.id, None)


def test_download_is_an_attachment_audited_as_an_export(
    stored: tuple[Any, RecordingRead, bytes], world: World, db: Database, login: Any
) -> None:
    inst, rec, audio = stored
    s = login(_downloader(world, db, inst.slug))
    r = s.get(f"/api/v1/recordings/{rec.id}/download", params={"reason": "regulator request R-9"})
    assert r.status_code == 200 and r.content == audio
    assert r.headers["content-disposition"] == f'attachment; filename="{rec.id}.wav"'
    (exported,) = _audit(db, inst.id, "recording.export")
    assert exported.details["reason"] == "regulator request R-9"
    assert s.get(f"/api/v1/recordings/{rec.id}/stream", params={"reason": "listen"}).status_code == 403


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_tampered_recording_is_an_integrity_error_and_a_security_event(
    stored: tuple[Any, RecordingRead, bytes], db: Database, login: Any, damage: str
) -> None:
    inst, rec, _ = stored
    path = _stored_path(inst.id, rec.id, db)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:-100]))
    else:
        path.unlink()
    s = login(inst.accounts["supervisor"])
    r = s.get(f"/api/v1/recordings/{rec.id}/stream", params={"reason": "quality check"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:callvault:problem:data-integrity"
    (incident,) = _audit(db, inst.id, "vault.integrity_failure")
    assert incident.outcome == "failure" and incident.object_id == str(rec.id)
    assert not _audit(db, inst.id, "recording.play")


def test_the_tenant_export_hands_recordings_back_as_wav(
    stored: tuple[Any, RecordingRead, bytes], db: Database, tmp_path: Path
) -> None:
    inst, rec, audio = stored
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
    out = tmp_path / "export"
    run_export(db, actor=actor, slug=inst.slug, out_dir=out)
    assert (out / "recordings" / f"{rec.id}.wav").read_bytes() == audio
    result = verify_export(out)
    assert result.ok, result.problems
    legs = (out / "tables" / "interaction_legs.jsonl").read_text(encoding="utf-8")
    assert "+8613812348000" in legs  # the export decrypts every registered column for the institution
    shutil.rmtree(out)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 99)),
        ("bytes=-5", (95, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=9-3", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


def test_parse_range_beyond_the_end() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-0", 100)


def test_key_rotation_rewraps_recordings_before_old_versions_are_retired(
    stored: tuple[Any, RecordingRead, bytes], db: Database, login: Any
) -> None:
    inst, rec, audio = stored
    old_path = _stored_path(inst.id, rec.id, db)
    old_body = old_path.read_bytes()
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        assert rotate_data_key(session, actor=operator, tenant_id=inst.id) == 2
    result = reencrypt_tenant(db, actor=operator, tenant_id=inst.id, retire=True)
    assert result.failed == [] and result.retired == [1] and result.moved >= 1

    new_path = _stored_path(inst.id, rec.id, db)
    assert new_path != old_path and not old_path.exists()
    new_body = new_path.read_bytes()
    # Only the header (the wrapped file key) changed; the audio chunks are the same bytes.
    assert len(new_body) == len(old_body) and new_body[-1000:] == old_body[-1000:] and new_body[:40] != old_body[:40]
    with db.scoped() as session:
        set_tenant(session, inst.id)
        row = session.get(Recording, rec.id)
        assert row is not None and row.key_version == 2
    s = login(inst.accounts["supervisor"])
    played = s.get(f"/api/v1/recordings/{rec.id}/stream", params={"reason": "after rotation"})
    assert played.status_code == 200 and played.content == audio
    # A second run has nothing left to move.
    again = reencrypt_tenant(db, actor=operator, tenant_id=inst.id)
    assert again.moved == 0 and again.remaining_old == 0


def test_any_byte_range_decrypts_to_the_same_bytes_across_chunk_boundaries(world: World, tmp_path: Path) -> None:
    """Property: for small chunks (many boundaries) every satisfiable range equals the plaintext slice."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from callvault.security.vault.recording import FileContext, RecordingCipher
    from callvault.security.vault.runtime import vault

    inst = world.institution(roles=())
    cipher = RecordingCipher(vault().keyring, chunk_size=16)
    audio = bytes(range(256)) * 3 + b"tail"
    context = FileContext(inst.id, "prop")
    path = tmp_path / "prop.cvr"
    with path.open("wb") as dst:
        import io

        cipher.encrypt_file(io.BytesIO(audio), dst, context=context)
    size = len(audio)

    @settings(max_examples=150, deadline=None)
    @given(st.integers(0, size + 5), st.integers(0, size + 5), st.sampled_from(["a-b", "a-", "-n"]))
    def check(a: int, b: int, form: str) -> None:
        header = {"a-b": f"bytes={a}-{b}", "a-": f"bytes={a}-", "-n": f"bytes=-{b}"}[form]
        try:
            bounds = parse_range(header, size)
        except RangeNotSatisfiable:
            assert (form != "-n" and a >= size) or (form == "-n" and b == 0)
            return
        first, last = bounds if bounds is not None else (0, size - 1)
        playback = recordings.Playback(uuid.uuid4(), path, context, size, "audio/wav", first, last, bounds is not None)
        assert b"".join(playback.chunks(cipher)) == audio[first : last + 1]

    check()
