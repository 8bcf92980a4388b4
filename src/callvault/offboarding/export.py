"""Hand-back export of one institution: every tenant table as JSON Lines, its audit trail, its recordings as WAV,
and a signed manifest.

Resumable: each finished file is recorded (with its SHA-256) in ``.export-state.json`` in the output directory.
A rerun into the same directory keeps every recorded file whose bytes still match and rewrites the rest, so a
run killed at any point (even with SIGKILL) finishes with a complete and correct manifest. Tables are read in
keyset-paged short transactions, so a long export never holds a database lock for long.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, NoReturn, Protocol

import structlog
from sqlalchemy import Table, func, literal, select, tuple_
from sqlalchemy.orm import Session

from callvault.all_models import metadata
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import Conflict, InvalidInput
from callvault.core.tenant_context import set_tenant
from callvault.migrations.runner import head_revision
from callvault.offboarding import service
from callvault.offboarding.files import HashingWriter, atomic_file, sha256_of, write_atomic
from callvault.offboarding.manifest import MANIFEST, MANIFEST_TYPE, PUBLIC_KEY, SIGNATURE, manifest_bytes
from callvault.offboarding.recordings import RecordingReader, StoredRecording, recordings_of
from callvault.offboarding.service import InstitutionRef
from callvault.offboarding.tables import (
    RETAINED_TABLES,
    WITHHELD_COLUMNS,
    column_type_name,
    institution_tables,
    json_value,
)
from callvault.security import audit
from callvault.security.canonical import format_time
from callvault.security.errors import CiphertextTampered
from callvault.security.principal import Principal
from callvault.security.sensitive import DataIntegrityError

log = structlog.get_logger(__name__)

STATE_FILE: Final = ".export-state.json"
LOCK_FILE: Final = ".export.lock"
STATE_FORMAT: Final = 1
BATCH_ROWS: Final = 2000
AUDIT_RECORDS: Final = "audit/audit.jsonl"
AUDIT_CHECKPOINTS: Final = "audit/checkpoints.jsonl"
AUDIT_PUBLIC_KEY: Final = "audit/audit-signing-public.pem"


class ExportProgress(Protocol):
    """What a progress display is told while the export runs."""

    def file_started(self, path: str, total: int | None) -> None: ...

    def advanced(self, n: int) -> None: ...

    def file_reused(self, path: str) -> None: ...


class SensitiveColumns(Protocol):
    """Which columns hold encrypted values, and how to decrypt one (the vault's sensitive-column registry)."""

    def columns(self, table: str) -> Mapping[str, str]:
        """Column name -> data class, for the encrypted columns of `table`."""
        ...

    def exported_name(self, table: str, column: str) -> str:
        """The key a decrypted column is written under (its field name, e.g. ``name`` for ``name_ct``)."""
        ...

    def decrypt(self, *, tenant_id: uuid.UUID, table: str, column: str, row: Mapping[str, Any], value: bytes) -> Any:
        """The plaintext of one stored value (JSON-ready); raises `CiphertextTampered` if it fails authentication."""
        ...


class _Quiet:
    def file_started(self, path: str, total: int | None) -> None:
        pass

    def advanced(self, n: int) -> None:
        pass

    def file_reused(self, path: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of the export as the manifest lists it."""

    path: str
    kind: str  # table | audit | recording
    table: str | None
    rows: int | None
    bytes: int
    sha256: str


@dataclass
class ExportResult:
    out_dir: Path
    export_id: uuid.UUID
    files: list[FileEntry]
    written: int
    reused: int
    rows: int
    manifest_sha256: str


@dataclass
class _Planned:
    path: str
    kind: str
    table: str | None
    total: int | None
    write: Callable[[HashingWriter, ExportProgress], int | None]


@dataclass
class _State:
    tenant_id: str
    export_id: str
    started_at: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> _State | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a torn state file only costs rewriting the files
        if data.get("format") != STATE_FORMAT:
            return None
        return cls(data["tenant_id"], data["export_id"], data["started_at"], dict(data.get("files") or {}))

    def save(self, path: Path) -> None:
        body = {"format": STATE_FORMAT, **asdict(self)}
        write_atomic(path, json.dumps(body, indent=1, sort_keys=True).encode("utf-8"))


def _jsonl(row: Mapping[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class _Exporter:
    def __init__(
        self,
        db: Database,
        inst: InstitutionRef,
        out_dir: Path,
        sensitive: SensitiveColumns,
        recordings: RecordingReader | None,
        actor: Principal,
    ) -> None:
        self.actor = actor
        self.db = db
        self.inst = inst
        self.out_dir = out_dir
        self.sensitive = sensitive
        self.recordings = recordings

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self.db.scoped() as session:
            set_tenant(session, self.inst.id)
            yield session

    # -- tables ------------------------------------------------------------------------------------------------

    def count(self, table: Table) -> int:
        with self._session() as session:
            n = session.execute(
                select(func.count()).select_from(table).where(table.c.tenant_id == self.inst.id)
            ).scalar_one()
            return int(n)

    def table_rows(self, table: Table) -> Iterator[list[Mapping[str, Any]]]:
        """The tenant's rows in primary-key order, one short transaction per page."""
        pk = list(table.primary_key.columns)
        if not pk:
            raise InvalidInput.one("table", f"{table.name} has no primary key to page by")
        last: tuple[Any, ...] | None = None
        while True:
            stmt = select(table).where(table.c.tenant_id == self.inst.id).order_by(*pk).limit(BATCH_ROWS)
            if last is not None:
                bound = [literal(value, type_=col.type) for col, value in zip(pk, last, strict=True)]
                stmt = stmt.where(pk[0] > bound[0] if len(pk) == 1 else tuple_(*pk) > tuple_(*bound))
            with self._session() as session:
                page: list[Mapping[str, Any]] = [dict(row._mapping) for row in session.execute(stmt)]
                session.rollback()
            if not page:
                return
            yield page
            last = tuple(page[-1][c.name] for c in pk)

    def write_table(self, table: Table, out: HashingWriter, progress: ExportProgress) -> int:
        encrypted = self.sensitive.columns(table.name)
        withheld = {c for t, c in WITHHELD_COLUMNS if t == table.name}
        rows = 0
        for page in self.table_rows(table):
            for row in page:
                doc: dict[str, Any] = {}
                for name, value in row.items():
                    if name in withheld:
                        doc[name] = None
                    elif name in encrypted:
                        key = self.sensitive.exported_name(table.name, name)
                        doc[key] = None
                        if value is None:
                            continue
                        try:
                            doc[key] = self.sensitive.decrypt(
                                tenant_id=self.inst.id, table=table.name, column=name, row=row, value=bytes(value)
                            )
                        except CiphertextTampered:
                            self._integrity_failure(table, name, row)
                    else:
                        doc[name] = json_value(value)
                out.write(_jsonl(doc))
            rows += len(page)
            progress.advanced(len(page))
        return rows

    def _integrity_failure(self, table: Table, column: str, row: Mapping[str, Any]) -> NoReturn:
        """A stored value failed authentication: a security event, and the export stops (never a silent gap)."""
        row_id = ",".join(str(row[c.name]) for c in table.primary_key.columns)
        log.warning("vault integrity failure", event_type="vault.integrity_failure", table=table.name, row_id=row_id)
        with self._session() as session:
            audit.record(
                session,
                actor=self.actor,
                action="vault.integrity_failure",
                object_type=table.name,
                object_id=row_id,
                outcome="failure",
                details={"column": column, "during": "tenant.export"},
            )
            session.commit()
        raise DataIntegrityError(
            f"{table.name}.{column} of row {row_id} failed its integrity check; the export stopped "
            "(files written so far are kept; rerun after investigating)"
        )

    def table_schema(self, table: Table) -> dict[str, Any]:
        encrypted = self.sensitive.columns(table.name)
        columns = []
        for col in table.columns:
            if (table.name, col.name) in WITHHELD_COLUMNS:
                encoding = "withheld (credential material, always null)"
            elif col.name in encrypted:
                encoding = f"decrypted ({encrypted[col.name]}), stored encrypted as {col.name}"
            elif column_type_name(table, col.name) in ("BLOB", "BYTEA", "LargeBinary"):
                encoding = "base64"
            else:
                encoding = "plain"
            name = self.sensitive.exported_name(table.name, col.name) if col.name in encrypted else col.name
            columns.append({"name": name, "type": column_type_name(table, col.name), "encoding": encoding})
        return {"columns": columns, "primary_key": [c.name for c in table.primary_key.columns]}

    # -- audit trail -------------------------------------------------------------------------------------------

    def write_audit(self, out: HashingWriter, progress: ExportProgress) -> int:
        after = rows = 0
        while True:
            with self._session() as session:
                page = audit.records_after(session, after_seq=after, limit=BATCH_ROWS)
                session.rollback()
            if not page:
                return rows
            for record in page:
                out.write(_jsonl(record.to_dict()))
            rows += len(page)
            after = page[-1].seq
            progress.advanced(len(page))

    def write_checkpoints(self, out: HashingWriter, progress: ExportProgress) -> int:
        with self._session() as session:
            checkpoints = audit.stored_checkpoints(session)
            session.rollback()
        for cp in checkpoints:
            out.write(_jsonl(cp.to_dict()))
        progress.advanced(len(checkpoints))
        return len(checkpoints)

    def audit_count(self) -> int:
        return self.count(metadata.tables["audit_events"])

    # -- recordings --------------------------------------------------------------------------------------------

    def write_recording(self, recording: StoredRecording, out: HashingWriter, progress: ExportProgress) -> None:
        assert self.recordings is not None
        for chunk in self.recordings(self.inst.id, recording):
            out.write(chunk)
            progress.advanced(len(chunk))

    # -- plan --------------------------------------------------------------------------------------------------

    def plan(self) -> list[_Planned]:
        planned: list[_Planned] = []
        for table in institution_tables():
            planned.append(
                _Planned(
                    f"tables/{table.name}.jsonl",
                    "table",
                    table.name,
                    self.count(table),
                    partial(self.write_table, table),
                )
            )
        planned.append(_Planned(AUDIT_RECORDS, "audit", None, self.audit_count(), self.write_audit))
        planned.append(_Planned(AUDIT_CHECKPOINTS, "audit", None, None, self.write_checkpoints))
        planned.append(_Planned(AUDIT_PUBLIC_KEY, "audit", None, None, _write_public_key))
        with self._session() as session:
            stored = list(recordings_of(session, self.inst.id))
            session.rollback()
        if stored and self.recordings is None:
            raise Conflict("the institution has recordings but no recording decryption is configured")
        for rec in stored:
            planned.append(
                _Planned(
                    f"recordings/{rec.file_id}.wav",
                    "recording",
                    None,
                    rec.size,
                    partial(self.write_recording, rec),
                )
            )
        return planned


def _write_public_key(out: HashingWriter, progress: ExportProgress) -> None:
    out.write(audit.signer().public_key_pem())


def _manifest_tenant(out_dir: Path) -> str | None:
    try:
        manifest = json.loads((out_dir / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    tenant_id = manifest.get("tenant", {}).get("id") if isinstance(manifest, dict) else None
    return str(tenant_id) if tenant_id else None


@contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    fd = os.open(out_dir / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"another export is writing into {out_dir}") from None
        yield
    finally:
        os.close(fd)


def run_export(
    db: Database,
    *,
    actor: Principal,
    slug: str,
    out_dir: Path,
    sensitive: SensitiveColumns | None = None,
    recordings: RecordingReader | None = None,
    progress: ExportProgress | None = None,
) -> ExportResult:
    """Export everything of institution `slug` into `out_dir`, resuming an earlier run into the same directory."""
    progress = progress or _Quiet()
    if sensitive is None or recordings is None:
        from callvault.offboarding import vault_hooks

        sensitive = sensitive or vault_hooks.sensitive_columns()
        recordings = recordings or vault_hooks.recording_reader()
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)  # decrypted personal data: owner only
    with db.scoped() as session:
        inst = service.exportable_institution(session, slug=slug)
    with _exclusive(out_dir):
        state = _State.load(out_dir / STATE_FILE)
        if state is not None and state.tenant_id != str(inst.id):
            raise Conflict(f"{out_dir} holds an export of another institution; choose an empty directory")
        if state is None:
            # A finished export of the same institution is replaced by a new one; anything else is not ours.
            finished_for = _manifest_tenant(out_dir)
            leftovers = [p.name for p in out_dir.iterdir() if p.name != LOCK_FILE]
            if finished_for is not None and finished_for != str(inst.id):
                raise Conflict(f"{out_dir} holds an export of another institution; choose an empty directory")
            if leftovers and finished_for is None:
                raise Conflict(f"{out_dir} is not empty and holds no export to resume; choose an empty directory")
        with db.scoped() as session:
            job = service.begin_export(session, actor=actor, inst_id=inst.id, out_dir=str(out_dir))
        if state is None or state.export_id != str(job.id):
            state = _State(str(inst.id), str(job.id), format_time(job.started_at))
            state.save(out_dir / STATE_FILE)
        exporter = _Exporter(db, inst, out_dir, sensitive, recordings, actor)
        # Only files of the unfinished run are kept: a finished export rerun is a new, complete export.
        known = dict(state.files)
        entries: list[FileEntry] = []
        written = reused = 0
        for item in exporter.plan():
            previous = known.get(item.path)
            on_disk = sha256_of(out_dir / item.path) if previous else None
            if previous and on_disk and (on_disk.size, on_disk.sha256) == (previous["bytes"], previous["sha256"]):
                entries.append(FileEntry(**{k: previous[k] for k in FileEntry.__dataclass_fields__}))
                reused += 1
                progress.file_reused(item.path)
                continue
            progress.file_started(item.path, item.total)
            with atomic_file(out_dir / item.path) as out:
                rows = item.write(out, progress)
            digest = out.digest()
            entry = FileEntry(item.path, item.kind, item.table, rows, digest.size, digest.sha256)
            entries.append(entry)
            state.files[item.path] = asdict(entry)
            state.save(out_dir / STATE_FILE)
            written += 1
        manifest = {
            "type": MANIFEST_TYPE,
            "tenant": {"id": str(inst.id), "slug": inst.slug, "name": inst.name},
            "schema_version": head_revision(),
            "started_at": state.started_at,
            "exported_at": format_time(clock.now()),
            "signing_key_id": audit.signer().key_id,
            "files": [asdict(e) for e in entries],
            "tables": {t.name: exporter.table_schema(t) for t in institution_tables()},
            "retained_by_operator_after_offboarding": sorted(RETAINED_TABLES),
        }
        raw = manifest_bytes(manifest)
        write_atomic(out_dir / PUBLIC_KEY, audit.signer().public_key_pem())
        write_atomic(out_dir / SIGNATURE, audit.signer().sign_bytes(raw))
        manifest_digest = write_atomic(out_dir / MANIFEST, raw)
        total_rows = sum(e.rows or 0 for e in entries if e.kind != "recording")
        with db.scoped() as session:
            service.complete_export(
                session,
                actor=actor,
                export_id=job.id,
                files=len(entries),
                rows=total_rows,
                manifest_sha256=manifest_digest.sha256,
            )
        (out_dir / STATE_FILE).unlink(missing_ok=True)
    (out_dir / LOCK_FILE).unlink(missing_ok=True)
    return ExportResult(out_dir, job.id, entries, written, reused, total_rows, manifest_digest.sha256)
