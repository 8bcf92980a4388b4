"""Where an institution's files live, and the hook through which its recordings are exported and deleted.

Every file of an institution is kept under ``<data_dir>/tenants/<tenant id>/``, so offboarding can delete them
all. A domain that stores recordings registers a `RecordingSource` listing them; the export decrypts each into
a WAV file with the tenant's `RecordingCipher`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from callvault.config import Settings
from callvault.security.vault.recording import FileContext, RecordingCipher


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """One encrypted recording of the bound tenant: its file id (part of the cipher context) and its path."""

    file_id: str
    path: Path
    size: int | None = None


RecordingSource = Callable[[Session, uuid.UUID], Iterable[StoredRecording]]
RecordingReader = Callable[[uuid.UUID, StoredRecording], Iterator[bytes]]

_SOURCES: list[RecordingSource] = []


def register_source(source: RecordingSource) -> None:
    """Add a source of recordings (idempotent)."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def unregister_source(source: RecordingSource) -> None:
    if source in _SOURCES:
        _SOURCES.remove(source)


def recordings_of(session: Session, tenant_id: uuid.UUID) -> Iterator[StoredRecording]:
    """Every recording of the tenant the session is bound to, from every registered source."""
    for source in _SOURCES:
        yield from source(session, tenant_id)


def tenant_files_dir(settings: Settings, tenant_id: uuid.UUID) -> Path:
    """The directory that holds every file of one institution."""
    return settings.data_dir / "tenants" / str(tenant_id)


def decrypting_reader(cipher: RecordingCipher) -> RecordingReader:
    """A reader that yields the plaintext (WAV) bytes of a stored recording."""

    def read(tenant_id: uuid.UUID, recording: StoredRecording) -> Iterator[bytes]:
        with recording.path.open("rb") as src:
            yield from cipher.decrypt_stream(src, context=FileContext(tenant_id, recording.file_id))

    return read
