"""Recordings: encrypted at rest under the institution's directory, played back only with a stated reason.

`store_recording` takes a WAV a media worker finished, encrypts it with the tenant's `RecordingCipher` into
``<data_dir>/tenants/<tenant>/recordings/<xx>/<id>.cvr`` (temporary file, fsync, rename), writes the metadata row,
audit record and event in one transaction, and only then deletes the plaintext. The row id is derived from the
tenant, the engine's recording id and the WAV's SHA-256, so a rerun after a crash at any point finds the same
path and row: nothing is stored twice, nothing is lost.

`open_playback` checks the permission, the reason and the encrypted file's SHA-256 (a changed, truncated or
missing file is an integrity incident: logged, audited as ``vault.integrity_failure`` and answered with
problem+json), audits the playback with its reason, and hands back a `Playback` that decrypts on the fly.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.config import get_settings
from callvault.core import outbox
from callvault.core.db import Database
from callvault.core.errors import DomainError, InvalidInput, NotFound
from callvault.core.tenant_context import current_tenant, set_tenant
from callvault.interactions.models import Interaction, InteractionLeg, Recording
from callvault.interactions.schemas import RecordingRead
from callvault.interactions.service import RECORD
from callvault.offboarding.recordings import StoredRecording, register_source, tenant_files_dir
from callvault.security import audit
from callvault.security.errors import CiphertextTampered
from callvault.security.principal import Principal
from callvault.security.sensitive import INTEGRITY_ACTION, DataIntegrityError
from callvault.security.vault.recording import FileContext, RecordingCipher, header_length
from callvault.security.vault.runtime import vault

log = structlog.get_logger(__name__)

PLAY: Final = "recording.play"
DOWNLOAD: Final = "recording.download"
_ID_NAMESPACE: Final = uuid.UUID("5b0c5d6e-3f43-4d7e-9a34-7f0e3c1b9a10")
_READ_BLOCK: Final = 1024 * 1024
_RANGE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")


class Purpose(enum.StrEnum):
    PLAY = "play"  # streamed to a browser player
    DOWNLOAD = "download"  # a copy leaves the platform: audited as an export


class RangeNotSatisfiable(DomainError):
    status = 416
    code = "range-not-satisfiable"
    title = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"the recording has {size} bytes")
        self.size = size


def recording_row_id(tenant_id: uuid.UUID, engine_recording_id: str, sha256: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, f"{tenant_id}:{engine_recording_id}:{sha256}")


def _relative_path(recording_id: uuid.UUID) -> Path:
    name = str(recording_id)
    return Path("recordings") / name[:2] / f"{name}.cvr"


def _absolute(tenant_id: uuid.UUID, relative: str) -> Path:
    return tenant_files_dir(get_settings(), tenant_id) / relative


def _digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as src:
        while block := src.read(_READ_BLOCK):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def _is_wav(path: Path) -> bool:
    with path.open("rb") as src:
        head = src.read(12)
    return len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encrypt_to(cipher: RecordingCipher, source: Path, final: Path, context: FileContext) -> tuple[int, int, str]:
    """Encrypt into a temporary file next to `final`, then rename: a crash leaves no half-written recording."""
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = final.with_name(final.name + ".tmp")
    with source.open("rb") as src, tmp.open("wb") as dst:
        os.chmod(tmp, 0o600)
        digest = cipher.encrypt_file(src, dst, context=context)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return digest.key_version, digest.ciphertext_bytes, digest.ciphertext_sha256


def store_recording(
    session: Session,
    *,
    actor: Principal,
    interaction_id: uuid.UUID,
    source: Path,
    engine_recording_id: str,
    call_id: str | None = None,
    duration_ms: int = 0,
) -> RecordingRead:
    """Encrypt a finished WAV into the institution's store and delete the plaintext (idempotent, crash-safe)."""
    actor.require(RECORD)
    tenant_id = current_tenant(session)
    if session.get(Interaction, interaction_id) is None:
        raise NotFound("no such interaction")
    if not source.exists():
        done = session.scalars(
            select(Recording).where(
                Recording.interaction_id == interaction_id, Recording.engine_recording_id == engine_recording_id
            )
        ).first()
        if done is None:
            raise NotFound("the recording file does not exist and was never stored")
        return RecordingRead.model_validate(done)
    if not _is_wav(source):
        raise InvalidInput.one("source", "not a WAV file (RIFF/WAVE header missing)")
    size, sha256 = _digest(source)
    recording_id = recording_row_id(tenant_id, engine_recording_id, sha256)
    existing = session.get(Recording, recording_id)
    if existing is not None:  # stored by an earlier run that died before deleting the plaintext
        source.unlink(missing_ok=True)
        return RecordingRead.model_validate(existing)
    leg = None
    if call_id is not None:
        leg = session.scalars(
            select(InteractionLeg).where(
                InteractionLeg.interaction_id == interaction_id, InteractionLeg.call_id == call_id
            )
        ).first()
    relative = _relative_path(recording_id)
    context = FileContext(tenant_id, str(recording_id))
    version, stored_bytes, stored_sha256 = _encrypt_to(
        vault().recordings, source, _absolute(tenant_id, str(relative)), context
    )
    row = Recording(
        id=recording_id,
        interaction_id=interaction_id,
        leg_id=leg.id if leg is not None else None,
        engine_recording_id=engine_recording_id,
        content_type="audio/wav",
        duration_ms=duration_ms,
        size_bytes=size,
        sha256=sha256,
        stored_bytes=stored_bytes,
        stored_sha256=stored_sha256,
        key_version=version,
        storage_path=str(relative),
    )
    session.add(row)
    if leg is not None:
        leg.recording_id = recording_id
    session.flush()
    details = {
        "interaction_id": str(interaction_id),
        "bytes": size,
        "sha256": sha256,
        "key_version": version,
        "duration_ms": duration_ms,
    }
    audit.record(
        session, actor=actor, action="recording.store", object_type="recordings", object_id=row.id, details=details
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="recording.stored", payload={"id": str(row.id), **details})
    session.commit()
    source.unlink(missing_ok=True)  # only now: until the row is committed the plaintext is the recording
    return RecordingRead.model_validate(row)


# --- playback ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Playback:
    """An authorised, audited playback: decrypts the file on the fly, optionally one byte range of the WAV."""

    recording_id: uuid.UUID
    path: Path
    context: FileContext
    size: int
    content_type: str
    first: int
    last: int  # inclusive
    partial: bool

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def chunks(self, cipher: RecordingCipher | None = None) -> Iterator[bytes]:
        """The plaintext bytes ``first..last``. Decryption starts at the file's beginning (chunks chain)."""
        cipher = cipher or vault().recordings
        position = 0
        with self.path.open("rb") as src:
            try:
                for piece in cipher.decrypt_stream(src, context=self.context):
                    end = position + len(piece)
                    if end > self.first and position <= self.last:
                        yield piece[max(0, self.first - position) : self.last - position + 1]
                    position = end
                    if position > self.last:
                        return
            except CiphertextTampered:
                # The file changed after its digest was checked: stop the stream, never send unauthenticated audio.
                log.warning(
                    "recording integrity failure during playback",
                    event_type=INTEGRITY_ACTION,
                    recording_id=str(self.recording_id),
                )
                raise


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range asked for (inclusive bounds), None for the whole file.

    Malformed and multi-range headers are ignored (the whole file is sent, as RFC 9110 allows); a range that
    starts beyond the end raises `RangeNotSatisfiable`.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # suffix: the last N bytes
        count = int(last_text)
        if count == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - count), size - 1
    first = int(first_text)
    if first >= size:
        raise RangeNotSatisfiable(size)
    last = int(last_text) if last_text else size - 1
    if last < first:
        return None
    return first, min(last, size - 1)


def _report_tampered(session: Session, *, actor: Principal, row: Recording, problem: str) -> None:
    log.warning("recording integrity failure", event_type=INTEGRITY_ACTION, recording_id=str(row.id), problem=problem)
    session.rollback()
    audit.record(
        session,
        actor=actor,
        action=INTEGRITY_ACTION,
        object_type="recordings",
        object_id=row.id,
        outcome="failure",
        details={"problem": problem},
    )
    session.commit()


def open_playback(
    session: Session,
    *,
    actor: Principal,
    recording_id: uuid.UUID,
    reason: str | None,
    purpose: Purpose,
    byte_range: str | None = None,
) -> Playback:
    """Authorise, check and audit one playback or download; the caller streams `Playback.chunks()`."""
    actor.require(PLAY if purpose is Purpose.PLAY else DOWNLOAD)
    row = session.get(Recording, recording_id)
    if row is None:
        raise NotFound("no such recording")
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise InvalidInput.one("reason", "say why you open this recording (3 to 500 characters)")
    path = _absolute(row.tenant_id, row.storage_path)
    if not path.exists():
        problem = "file missing"
    else:
        stored_bytes, stored_sha256 = _digest(path)
        problem = "" if (stored_bytes, stored_sha256) == (row.stored_bytes, row.stored_sha256) else "digest mismatch"
    if problem:
        _report_tampered(session, actor=actor, row=row, problem=problem)
        raise DataIntegrityError("the stored recording failed its integrity check; the incident was recorded")
    bounds = parse_range(byte_range, row.size_bytes)
    first, last = bounds if bounds is not None else (0, row.size_bytes - 1)
    details: dict[str, object] = {"reason": reason, "interaction_id": str(row.interaction_id)}
    if bounds is not None:
        details["range"] = f"{first}-{last}"
    action = "recording.play" if purpose is Purpose.PLAY else "recording.export"
    audit.record(session, actor=actor, action=action, object_type="recordings", object_id=row.id, details=details)
    outbox.emit(
        session,
        tenant_slug=actor.tenant_slug,
        name="recording.played" if purpose is Purpose.PLAY else "recording.exported",
        payload={"id": str(row.id), "actor": actor.actor},
    )
    session.commit()
    return Playback(
        recording_id=row.id,
        path=path,
        context=FileContext(row.tenant_id, str(row.id)),
        size=row.size_bytes,
        content_type=row.content_type,
        first=first,
        last=last,
        partial=bounds is not None,
    )


# --- tenant export -------------------------------------------------------------------------------------------


def stored_recordings(session: Session, tenant_id: uuid.UUID) -> Iterator[StoredRecording]:
    """The institution's recordings for the tenant export (decrypted there into WAV files)."""
    for row in session.scalars(select(Recording).order_by(Recording.id)):
        yield StoredRecording(file_id=str(row.id), path=_absolute(tenant_id, row.storage_path), size=row.size_bytes)


register_source(stored_recordings)


# --- key rotation --------------------------------------------------------------------------------------------


@dataclass
class RewrapResult:
    moved: int = 0
    remaining_old: int = 0
    failed: list[str] = field(default_factory=list)


def rewrap_recordings(db: Database, *, tenant_id: uuid.UUID, version: int) -> RewrapResult:
    """Re-wrap every recording's file key under data-key `version` (the audio itself is not re-encrypted).

    Per file: the new file is written next to the old one under a version-specific name (temporary file, fsync,
    rename), the row is pointed at it and committed, then the old file is deleted. A crash leaves either the old
    row and file (rerun redoes it) or the new ones plus an orphaned old file (deleted by the rerun).
    """
    result = RewrapResult()
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        pending = [(r.id, r.storage_path) for r in session.scalars(select(Recording).order_by(Recording.id))]
    cipher = vault().recordings
    for recording_id, storage_path in pending:
        with db.scoped() as session:
            set_tenant(session, tenant_id)
            row = session.get(Recording, recording_id)
            if row is None:
                continue
            current = _absolute(tenant_id, storage_path)
            if row.key_version == version:
                _remove_stale_copies(current)
                continue
            try:
                new_relative, stored_bytes, stored_sha256 = _rewrap_file(cipher, tenant_id, row, version)
            except (CiphertextTampered, OSError):
                result.failed.append(f"recordings:{recording_id}")
                result.remaining_old += 1
                continue
            row.storage_path, row.key_version = new_relative, version
            row.stored_bytes, row.stored_sha256 = stored_bytes, stored_sha256
            session.commit()
            current.unlink(missing_ok=True)
            result.moved += 1
    return result


def _rewrap_file(cipher: RecordingCipher, tenant_id: uuid.UUID, row: Recording, version: int) -> tuple[str, int, str]:
    source = _absolute(tenant_id, row.storage_path)
    context = FileContext(tenant_id, str(row.id))
    with source.open("rb") as src:
        prefix = src.read(64 * 1024)
        header = prefix[: header_length(prefix)]
        new_header = cipher.rewrap_header(header, context=context)
        relative = _relative_path(row.id).with_suffix(f".k{version}.cvr")
        final = _absolute(tenant_id, str(relative))
        tmp = final.with_name(final.name + ".tmp")
        digest = hashlib.sha256()
        size = 0
        with tmp.open("wb") as dst:
            os.chmod(tmp, 0o600)
            for block in (new_header, prefix[len(header) :]):
                dst.write(block)
                digest.update(block)
                size += len(block)
            while block := src.read(_READ_BLOCK):
                dst.write(block)
                digest.update(block)
                size += len(block)
            dst.flush()
            os.fsync(dst.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return str(relative), size, digest.hexdigest()


def _remove_stale_copies(current: Path) -> None:
    """Files of the same recording left by a rewrap that crashed after its commit."""
    stem = current.name.split(".", 1)[0]
    for sibling in current.parent.glob(f"{stem}.*"):
        if sibling != current:
            sibling.unlink(missing_ok=True)
