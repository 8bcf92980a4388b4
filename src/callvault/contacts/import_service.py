"""List imports into the database: find or create the list, open or resume the job, run it, finish it.

`start_import` opens the job (or returns the unfinished job of the same file for the same list, so a re-run
after a crash continues it); `run_job` streams the file through `pipeline.run_import` into a
`DatabaseContactSink` and records the outcome. The audit record `contact.import` carries counts only.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.contacts import mapping_service
from callvault.contacts import service as contacts
from callvault.contacts.checkpoint import Checkpoint
from callvault.contacts.db_sink import DatabaseContactSink
from callvault.contacts.import_models import ImportJob
from callvault.contacts.import_schemas import ImportRead
from callvault.contacts.live import Minimising
from callvault.contacts.mapping import ColumnMapping, MappingError
from callvault.contacts.models import ContactList
from callvault.contacts.pipeline import ImportResult, ProgressCallback, run_import
from callvault.contacts.readers import Layout, SourceFileError, SourceFormat, detect_format
from callvault.contacts.schemas import ContactListCreate
from callvault.core import clock, outbox
from callvault.core.db import Database
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.core.tenant_context import current_tenant, set_tenant
from callvault.dnc.policy import Purpose
from callvault.security import audit
from callvault.security.principal import Principal, system_principal
from callvault.tenancy import service as tenancy

IMPORT: Final = "contact.import"
# "interrupted": the process running it failed unexpectedly; the same file continues it.
UNFINISHED: Final = ("queued", "running", "interrupted")


class ImportFailed(InvalidInput):
    """The file or the mapping cannot be used at all; nothing was stored."""


@dataclass(frozen=True)
class StartedImport:
    job_id: uuid.UUID
    list_id: uuid.UUID
    resumed: bool
    report_path: Path


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def reports_dir(data_dir: Path, tenant_id: uuid.UUID) -> Path:
    """Per-tenant directory of uploaded files and error reports."""
    directory = data_dir / "imports" / str(tenant_id)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# --- queries -------------------------------------------------------------------------------------------------


def get_list(session: Session, *, list_id: uuid.UUID) -> ContactList:
    found = session.get(ContactList, list_id)
    if found is None:
        raise NotFound("no such contact list")
    return found


def get_job(session: Session, *, import_id: uuid.UUID) -> ImportJob:
    found = session.get(ImportJob, import_id)
    if found is None:
        raise NotFound("no such import")
    return found


def job_read(job: ImportJob) -> ImportRead:
    return ImportRead.model_validate(job)


# --- actions -------------------------------------------------------------------------------------------------


def ensure_list(
    session: Session, *, actor: Principal, name: str, purpose: Purpose | None = None
) -> tuple[uuid.UUID, bool]:
    """The list called `name`, created (audited) when missing; returns its id and whether it was created.

    `purpose` is the new list's purpose (default marketing, the strictest). An existing list keeps its own: a
    different `purpose` is refused rather than ignored, since it would change which numbers may be called.
    """
    actor.require(IMPORT)
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput.one("list", "a list name has 1 to 120 characters")
    found = contacts.get_list_by_name(session, name=name)
    if found is not None:
        check_purpose(found, purpose)
        return found.id, False
    created = contacts.create_list(
        session, actor=actor, data=ContactListCreate(name=name, purpose=purpose or Purpose.MARKETING)
    )
    return created.id, True


def check_purpose(lst: ContactList, purpose: Purpose | None) -> None:
    """Refuse a purpose that differs from the list's own (a purpose is chosen only when a list is created)."""
    if purpose is not None and purpose.value != lst.purpose:
        raise InvalidInput.one(
            "purpose",
            f"list {lst.name!r} is for {lst.purpose}; its imports are screened for that purpose "
            "(create another list for another purpose)",
        )


def start_import(
    session: Session,
    *,
    actor: Principal,
    list_id: uuid.UUID,
    path: Path,
    file_name: str,
    fmt: str,
    mapping: ColumnMapping | None,
    report_path: Path | None,
    data_dir: Path,
    sha256: str | None = None,
    keep_source: bool = False,
    mapping_template: str | None = None,
    mapping_template_id: uuid.UUID | None = None,
) -> StartedImport:
    """Open a job for `path`, or return the unfinished job of the same file for this list (resume).

    The job screens do-not-call entries (and, for marketing, consent) for the list's purpose.
    `mapping_template` names a saved template of the institution (`mapping_service`), copied into the job;
    it excludes an inline `mapping`. `mapping_template_id` chooses the template by id instead (the console's
    select box): another institution's id is NotFound.

    `keep_source`: `path` is an upload kept under data_dir; a restarted server resumes the job from it.
    """
    actor.require(IMPORT)
    purpose = get_list(session, list_id=list_id).purpose
    if Minimising.from_settings(tenancy.current(session).settings) is not None:
        # Minimising mode keeps only the institution's reference id and the phones, which needs a mapped
        # reference column; until mappings have one, importing would store what the institution opted out of.
        raise ImportFailed.one(
            "list", "this institution keeps customer details in its own system; list import is not available"
        )
    digest = sha256 or file_sha256(path)
    unfinished = session.scalars(
        select(ImportJob)
        .where(ImportJob.list_id == list_id, ImportJob.file_sha256 == digest, ImportJob.status.in_(UNFINISHED))
        .order_by(ImportJob.id.desc())
    ).first()
    if unfinished is not None:
        session.rollback()
        return StartedImport(unfinished.id, list_id, True, Path(unfinished.report_path))
    if mapping_template_id is not None:
        if mapping is not None or mapping_template:
            raise InvalidInput.one("mapping_template_id", "give one of a mapping, a template name or a template id")
        mapping_template, mapping = mapping_service.resolve_id(session, actor=actor, mapping_id=mapping_template_id)
    elif mapping_template:
        if mapping is not None:
            raise InvalidInput.one("mapping_template", "give either a mapping or a mapping template, not both")
        mapping = mapping_service.resolve(session, actor=actor, name=mapping_template)
    try:
        source_format = detect_format(path) if fmt == "auto" else SourceFormat(fmt)
    except OSError as exc:
        raise ImportFailed.one("file", f"cannot read the file: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise ImportFailed.one("format", f"unknown format {fmt!r}") from None
    job = ImportJob(
        id=_new_job_id(),
        list_id=list_id,
        file_name=file_name[:255],
        file_sha256=digest,
        format=source_format.value,
        purpose=purpose,
        mapping=mapping.to_json() if mapping is not None else {},
        mapping_template=(mapping_template or "").strip(),
        status="running",
        source_path=str(path) if keep_source else "",
        actor=actor.actor,
        started_at=clock.now(),
    )
    job.report_path = str(report_path or reports_dir(data_dir, current_tenant(session)) / f"{job.id}.errors.csv")
    session.add(job)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="contact.import.start",
        object_type="import",
        object_id=job.id,
        details={
            "list_id": str(list_id),
            "format": job.format,
            "purpose": job.purpose,
            # Whether a saved template chose the columns; its name (free text an institution typed) stays on the
            # job row, which the audit record names by id.
            "mapping": "template" if job.mapping_template else ("inline" if job.mapping else "auto"),
        },
    )
    session.commit()
    return StartedImport(job.id, list_id, False, Path(job.report_path))


def _new_job_id() -> uuid.UUID:
    from callvault.core.ids import new_id

    return new_id()


@dataclass(frozen=True)
class PendingUpload:
    actor: Principal
    job_id: uuid.UUID
    path: Path


def pending_uploads(db: Database) -> list[PendingUpload]:
    """Unfinished jobs of uploaded files still on disk, in every tenant (to resume after a restart)."""
    found: list[PendingUpload] = []
    with db.scoped() as session:
        for tenant_id in tenancy.all_tenant_ids(session):
            tenant = tenancy.get(session, tenant_id=tenant_id)
            actor = system_principal(
                tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_kind=tenant.kind, name="import-resume"
            )
            set_tenant(session, tenant_id)
            jobs = session.scalars(
                select(ImportJob).where(ImportJob.status.in_(UNFINISHED), ImportJob.source_path != "")
            ).all()
            found += [PendingUpload(actor, j.id, Path(j.source_path)) for j in jobs if Path(j.source_path).is_file()]
            session.rollback()
    return found


def run_job(
    db: Database,
    *,
    actor: Principal,
    job_id: uuid.UUID,
    path: Path,
    layout: Layout | Path | None = None,
    progress: ProgressCallback | None = None,
    durable: bool = True,
) -> ImportResult:
    """Run (or continue) the job to its end; finish it with the counters and the `contact.import` audit record.

    A file or mapping that cannot be used at all fails the job (`ImportFailed`, nothing stored).
    """
    with db.scoped() as session:
        set_tenant(session, actor.tenant_id)
        job = get_job(session, import_id=job_id)
        if job.status not in UNFINISHED:
            raise Conflict(f"import {job_id} is {job.status}")
        mapping = ColumnMapping.from_json(job.mapping) if job.mapping else None
        template = job.mapping_template
        resume_from = Checkpoint.from_json(job.checkpoint) if job.checkpoint else None
        fmt, purpose, list_id, report_path = job.format, Purpose(job.purpose), job.list_id, Path(job.report_path)
        sensitive_custom = contacts.sensitive_custom_fields(get_list(session, list_id=list_id))
        if job.status != "running":
            job.status, job.error = "running", ""
        session.commit()
    phone_column = mapping.phones[0] if mapping is not None else ""
    sink = DatabaseContactSink(
        db,
        tenant_id=actor.tenant_id,
        job_id=job_id,
        list_id=list_id,
        purpose=purpose,
        phone_column=phone_column,
        sensitive_custom=sensitive_custom,
    )
    try:
        result = run_import(
            path,
            fmt=fmt,
            mapping=mapping,
            sink=sink,
            report_path=report_path,
            layout=layout,
            resume_from=resume_from,
            progress=progress,
            durable=durable,
        )
    except (SourceFileError, MappingError) as exc:
        # A template that does not fit the file fails here, from the header, before any row is read.
        message = f"mapping template {template!r}: {exc}" if template and isinstance(exc, MappingError) else str(exc)
        _finish(db, actor=actor, job_id=job_id, status="failed", error=message[:500])
        raise ImportFailed.one("file", message) from None
    _finish(db, actor=actor, job_id=job_id, status="finished", result=result)
    return result


def _finish(
    db: Database,
    *,
    actor: Principal,
    job_id: uuid.UUID,
    status: str,
    result: ImportResult | None = None,
    error: str = "",
) -> None:
    with db.scoped() as session:
        set_tenant(session, actor.tenant_id)
        job = get_job(session, import_id=job_id)
        job.status = status
        job.error = error
        job.finished_at = clock.now()
        counts: dict[str, Any] = {}
        if result is not None:
            counts = {
                "total": result.total,
                "accepted": result.accepted,
                "rejected": result.rejected,
                "duplicates": result.duplicates,
            }
            job.total, job.accepted = result.total, result.accepted
            job.rejected, job.duplicates = result.rejected, result.duplicates
        audit.record(
            session,
            actor=actor,
            action="contact.import",
            object_type="import",
            object_id=job_id,
            outcome="success" if status == "finished" else "failure",
            details={"list_id": str(job.list_id), **counts},
        )
        outbox.emit(
            session,
            tenant_slug=actor.tenant_slug,
            name=f"contact.import.{status}",
            payload={"id": str(job_id), "list_id": str(job.list_id), **counts},
        )
        session.commit()


def interrupt_job(db: Database, *, actor: Principal, job_id: uuid.UUID, error: str) -> None:
    """Mark a job whose run broke off unexpectedly; importing the same file again continues it."""
    _finish(db, actor=actor, job_id=job_id, status="interrupted", error=error)


def error_report(session: Session, *, actor: Principal, import_id: uuid.UUID) -> Path:
    """The job's error report for download; the download is audited as an export."""
    actor.require(IMPORT)
    job = get_job(session, import_id=import_id)
    path = Path(job.report_path)
    if not path.exists():
        raise NotFound("this import has no error report yet")
    audit.record(session, actor=actor, action="contact.import.report.export", object_type="import", object_id=job.id)
    session.commit()
    return path


def list_jobs(session: Session, *, actor: Principal, list_id: uuid.UUID, limit: int = 20) -> list[ImportRead]:
    """The list's most recent imports, newest first (counters only, no customer data)."""
    actor.require(IMPORT)
    get_list(session, list_id=list_id)
    rows = session.scalars(
        select(ImportJob).where(ImportJob.list_id == list_id).order_by(ImportJob.id.desc()).limit(limit)
    )
    return [job_read(job) for job in rows]
