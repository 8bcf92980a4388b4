"""List import endpoints: upload a file into a list (runs in the background), follow the job, get its error report.

The upload body is streamed to a per-tenant file under data_dir while its SHA-256 is computed (an HMAC-signed
client signs that digest), so a file of any size up to `max_upload_bytes` never sits in memory.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import structlog
from fastapi import Depends, Request, status
from fastapi.responses import FileResponse
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from callvault.api import (
    SESSION_COOKIE,
    RequestContext,
    Requires,
    client_ip,
    db_session,
    domain_router,
    get_db,
    resolve_caller,
)
from callvault.contacts import import_service
from callvault.contacts.import_schemas import ImportRead
from callvault.contacts.mapping import ColumnMapping, MappingError
from callvault.contacts.readers import SourceFormat
from callvault.core.db import Database
from callvault.core.errors import DomainError, InvalidInput, Unauthenticated
from callvault.dnc.policy import Purpose
from callvault.identity import auth
from callvault.security.principal import Principal

log = structlog.get_logger(__name__)
router = domain_router("", "contact imports")

CHUNK: Final = 1 << 20
MAX_FIELD_BYTES: Final = 64 * 1024
_SUFFIXES: Final = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xlsb", ".xls", ".ods", ".json", ".ndjson"})
_running: set[uuid.UUID] = set()
_running_lock = threading.Lock()


# --- streaming the body to disk ------------------------------------------------------------------------------


@dataclass
class SpooledBody:
    path: Path
    sha256: str
    size: int


def _known_caller(request: Request) -> None:
    """Refuse a browser request without a live session before its body is read, so an anonymous client cannot
    make the server write a large upload to disk. Signed clients are verified once the body's digest is known."""
    if "x-callvault-key" in request.headers:
        return
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("log in or sign the request")
    with get_db(request).scoped() as session:
        auth.resolve_session(
            session, token=token, source_ip=client_ip(request), request_id=getattr(request.state, "request_id", "")
        )
        session.commit()


async def spooled_body(request: Request) -> AsyncIterator[SpooledBody]:
    """Write the raw request body to a temporary file under data_dir, hashing it on the way."""
    await run_in_threadpool(_known_caller, request)
    incoming = request.app.state.settings.data_dir / "imports" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / f"{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as f:
            async for chunk in request.stream():
                digest.update(chunk)
                size += len(chunk)
                f.write(chunk)
        yield SpooledBody(path, digest.hexdigest(), size)
    finally:
        path.unlink(missing_ok=True)


def upload_caller(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    body: Annotated[SpooledBody, Depends(spooled_body)],
) -> RequestContext:
    # An Idempotency-Key covers the content through its digest (the body itself is on disk).
    request.state.raw_body = body.sha256.encode()
    return resolve_caller(request, session, body=b"", body_sha256=body.sha256)


class RequiresUpload(Requires):
    """`Requires` for routes whose body is a streamed upload."""

    def __call__(self, request: Request, ctx: Annotated[RequestContext, Depends(upload_caller)]) -> RequestContext:
        return super().__call__(request, ctx)


# --- multipart ---------------------------------------------------------------------------------------------


@dataclass
class UploadForm:
    file_name: str = ""
    file_path: Path | None = None
    file_sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def extract_form(spooled: Path, content_type: str, directory: Path) -> UploadForm:
    """Parse the multipart body from disk: the `file` part is written to `directory`, small text fields kept."""
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidInput.one("body", "send multipart/form-data with a 'file' part")
    form = UploadForm()
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "sink": None, "buffer": None, "name": ""}
    digest = hashlib.sha256()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get("content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name == "file":
            raw_name = disposition.get(b"filename", b"upload").decode("utf-8", "replace")
            form.file_name = Path(raw_name.replace("\\", "/")).name[:255] or "upload"
            suffix = Path(form.file_name).suffix.lower()
            form.file_path = directory / f"{uuid.uuid4().hex}{suffix if suffix in _SUFFIXES else ''}"
            state["sink"] = form.file_path.open("wb")
        else:
            state["buffer"] = bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["sink"] is not None:
            digest.update(data[start:end])
            state["sink"].write(data[start:end])
        elif state["buffer"] is not None:
            state["buffer"] += data[start:end]
            if len(state["buffer"]) > MAX_FIELD_BYTES:
                raise InvalidInput.one(state["name"] or "body", f"form fields are limited to {MAX_FIELD_BYTES} bytes")

    def on_part_end() -> None:
        if state["sink"] is not None:
            state["sink"].close()
            state["sink"] = None
        elif state["buffer"] is not None:
            form.fields[state["name"]] = bytes(state["buffer"]).decode("utf-8", "replace")
            state["buffer"] = None
        state["headers"] = {}

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        with spooled.open("rb") as body:
            while chunk := body.read(CHUNK):
                parser.write(chunk)
        parser.finalize()
        if form.file_path is None:
            raise InvalidInput.one("file", "a 'file' part is required")
    except Exception as exc:
        if state["sink"] is not None:
            state["sink"].close()
        if form.file_path is not None:
            form.file_path.unlink(missing_ok=True)  # nothing half-written stays behind
        if isinstance(exc, DomainError):
            raise
        raise InvalidInput.one("body", "the multipart body is malformed") from None
    form.file_sha256 = digest.hexdigest()
    return form


@dataclass(frozen=True)
class UploadOptions:
    fmt: str
    mapping: ColumnMapping | None
    purpose: Purpose | None
    template: str | None
    template_id: uuid.UUID | None


def _options(form: UploadForm) -> UploadOptions:
    fmt = form.fields.get("format", "auto") or "auto"
    if fmt != "auto" and fmt not in {f.value for f in SourceFormat}:
        raise InvalidInput.one("format", "one of auto, csv, xlsx, json, ndjson")
    if fmt == SourceFormat.FIXED.value:
        raise InvalidInput.one("format", "fixed-width files are imported with the CLI (they need a layout file)")
    try:
        purpose = Purpose(form.fields["purpose"]) if form.fields.get("purpose") else None
    except ValueError:
        raise InvalidInput.one("purpose", f"one of {', '.join(p.value for p in Purpose)}") from None
    mapping = None
    if form.fields.get("mapping"):
        try:
            mapping = ColumnMapping.from_json(json.loads(form.fields["mapping"]))
        except (ValueError, MappingError) as exc:
            raise InvalidInput.one("mapping", str(exc)) from None
    template = form.fields.get("mapping_template", "").strip() or None
    template_id = None
    if raw_id := form.fields.get("mapping_template_id", "").strip():
        try:
            template_id = uuid.UUID(raw_id)
        except ValueError:
            raise InvalidInput.one("mapping_template_id", "the id of a saved mapping template") from None
    return UploadOptions(fmt, mapping, purpose, template, template_id)


# --- background run -------------------------------------------------------------------------------------------


def _run_in_background(db: Database, actor: Principal, job_id: uuid.UUID, path: Path) -> None:
    try:
        import_service.run_job(db, actor=actor, job_id=job_id, path=path)
        path.unlink(missing_ok=True)  # finished: the institution's file is not kept
    except DomainError as exc:
        log.info("import failed", import_id=str(job_id), problem=exc.code)
    except Exception:
        log.exception("import crashed", import_id=str(job_id))
        import_service.interrupt_job(
            db, actor=actor, job_id=job_id, error="internal error; upload the file again to resume"
        )
    finally:
        with _running_lock:
            _running.discard(job_id)


def _start_background(db: Database, actor: Principal, job_id: uuid.UUID, path: Path) -> None:
    with _running_lock:
        if job_id in _running:
            return  # already running in this process: the upload was a retry of the same file
        _running.add(job_id)
    threading.Thread(
        target=_run_in_background, args=(db, actor, job_id, path), name=f"import-{job_id}", daemon=True
    ).start()


def resume_pending_uploads(db: Database) -> int:
    """Start the unfinished jobs of uploaded files again (server start after a crash); returns how many."""
    pending = import_service.pending_uploads(db)
    for upload in pending:
        _start_background(db, upload.actor, upload.job_id, upload.path)
    return len(pending)


# --- routes -------------------------------------------------------------------------------------------------

Uploader = Annotated[RequestContext, Depends(RequiresUpload("contact.import"))]
Importer = Annotated[RequestContext, Depends(Requires("contact.import"))]


@router.post(
    "/contact-lists/{list_id}/imports",
    response_model=ImportRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary=(
        "Upload a call list file (multipart 'file'; optional 'format', and 'mapping', 'mapping_template' or "
        "'mapping_template_id'; "
        "'purpose' must be the list's)"
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "format": {"type": "string", "enum": ["auto", "csv", "xlsx", "json", "ndjson"]},
                            "purpose": {"type": "string", "enum": [p.value for p in Purpose]},
                            "mapping": {"type": "string", "description": "a mapping template (JSON text)"},
                            "mapping_template": {
                                "type": "string",
                                "description": "name of a saved mapping template (/api/v1/import-mappings)",
                            },
                            "mapping_template_id": {
                                "type": "string",
                                "format": "uuid",
                                "description": "id of a saved mapping template (another institution's: 404)",
                            },
                        },
                    }
                }
            },
        }
    },
)
def create_import(
    list_id: uuid.UUID,
    request: Request,
    ctx: Uploader,
    body: Annotated[SpooledBody, Depends(spooled_body)],
) -> ImportRead:
    session, actor = ctx.session, ctx.principal
    target = import_service.get_list(session, list_id=list_id)  # another institution's list: 404 first
    settings = request.app.state.settings
    directory = import_service.reports_dir(settings.data_dir, actor.tenant_id)
    form = extract_form(body.path, request.headers.get("content-type", ""), directory)
    assert form.file_path is not None
    try:
        options = _options(form)
        import_service.check_purpose(target, options.purpose)  # the list's purpose decides; a different one is refused
        started = import_service.start_import(
            session,
            actor=actor,
            list_id=list_id,
            path=form.file_path,
            file_name=form.file_name,
            fmt=options.fmt,
            mapping=options.mapping,
            report_path=None,
            data_dir=settings.data_dir,
            sha256=form.file_sha256,
            keep_source=True,
            mapping_template=options.template,
            mapping_template_id=options.template_id,
        )
    except BaseException:
        form.file_path.unlink(missing_ok=True)
        raise
    _start_background(get_db(request), actor, started.job_id, form.file_path)
    return import_service.job_read(import_service.get_job(session, import_id=started.job_id))


@router.get("/imports/{import_id}", response_model=ImportRead, summary="Status and counters of an import")
def get_import(import_id: uuid.UUID, ctx: Importer) -> ImportRead:
    return import_service.job_read(import_service.get_job(ctx.session, import_id=import_id))


@router.get(
    "/imports/{import_id}/errors",
    response_class=FileResponse,
    summary="Download the error report (CSV: line, column, reason, masked value); audited as an export",
)
def get_import_errors(import_id: uuid.UUID, ctx: Importer) -> FileResponse:
    path = import_service.error_report(ctx.session, actor=ctx.principal, import_id=import_id)
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"import-{import_id}-errors.csv")
