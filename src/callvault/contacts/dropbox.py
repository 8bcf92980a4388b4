"""The watched drop directory of each institution: the SFTP landing point for call-list files.

Layout under ``data_dir/dropbox/<tenant slug>/`` (an SFTP server's chroot points here)::

    incoming/     the institution uploads FILE (+ FILE.import.json, FILE.done, or a shared dropbox.json)
    processing/   taken files while they import (a crash leaves them here; the next poll resumes them)
    processed/    FILE, FILE.result.json (counters, import id) and FILE.errors.csv (rejected rows)
    failed/       FILE and FILE.result.json with the reason (bad settings, unreadable file, already imported)

A file is complete when its marker ``FILE.done`` exists, or else when it has not changed (size and mtime) for
`settle_seconds`: an SFTP upload keeps touching the file's mtime, so a quiet file is a finished one (a client
that stalls longer than that should upload under a temporary name, or send the marker). Files are imported
through `import_service` (audited, counted, resumable), one file at a time. A file whose SHA-256 was already
imported into the institution is not imported again. Only regular files with a single link are read, opened
with O_NOFOLLOW: symbolic links (in or out of the directory), hard links, devices and odd names are moved to
`failed/` unread.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import structlog
from pydantic import Field, ValidationError
from sqlalchemy import select

from callvault.contacts import import_service
from callvault.contacts.import_models import ImportJob
from callvault.contacts.mapping import ColumnMapping, MappingError
from callvault.contacts.readers import SourceFileError, parse_layout
from callvault.core.db import Database
from callvault.core.errors import DomainError
from callvault.core.schemas import StrictInput
from callvault.core.tenant_context import set_tenant
from callvault.dnc.policy import Purpose
from callvault.security import audit
from callvault.security.principal import Principal, system_principal
from callvault.tenancy import service as tenancy

log = structlog.get_logger(__name__)

SIDECAR: Final = ".import.json"
MARKER: Final = ".done"
DIRECTORY_SETTINGS: Final = "dropbox.json"
# Names SFTP clients use while a transfer is in progress (WinSCP .filepart, FileZilla/rsync temporaries).
_TEMPORARY: Final = (".part", ".filepart", ".tmp", ".partial")
MAX_SETTINGS_BYTES: Final = 64 * 1024
MAX_NAME: Final = 200
SUBDIRS: Final = ("incoming", "processing", "processed", "failed")


class DropSettings(StrictInput):
    """Settings of a dropped file: sidecar FILE.import.json, else incoming/dropbox.json.

    `mapping` and `layout` are given inline (JSON objects) or as the name of a file in incoming/;
    `mapping_template` names a template saved for the institution instead (not both).
    `purpose` applies when the list is created; an existing list keeps its own.
    """

    list: str = Field(min_length=1, max_length=120)
    purpose: Purpose | None = None
    format: Literal["auto", "csv", "xlsx", "json", "ndjson", "fixed"] = "auto"
    mapping: dict[str, Any] | str | None = None
    mapping_template: str | None = Field(default=None, min_length=1, max_length=120)
    layout: dict[str, Any] | str | None = None


class Rejected(Exception):
    """The dropped file cannot be imported as a whole; `reason` names why (never customer data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    tenant_slug: str
    file_name: str
    status: Literal["imported", "failed", "duplicate"]
    import_id: uuid.UUID | None
    counts: dict[str, int]
    error: str
    moved_to: Path


# --- directories ---------------------------------------------------------------------------------------------


def tenant_dir(data_dir: Path, slug: str) -> Path:
    return data_dir / "dropbox" / slug


def _real_dir(path: Path) -> bool:
    """A directory that is not a symbolic link."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def prepare(data_dir: Path, slug: str) -> Path:
    """Create the institution's drop directory tree (for provisioning the SFTP account); returns its root."""
    root = tenant_dir(data_dir, slug)
    for name in SUBDIRS:
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


def _is_auxiliary(name: str) -> bool:
    """Files that travel with a data file, or a transfer still in progress: never imported themselves."""
    lowered = name.lower()
    return name.startswith(".") or name == DIRECTORY_SETTINGS or lowered.endswith((SIDECAR, MARKER, *_TEMPORARY))


def _bad_name(name: str) -> str | None:
    if len(name) > MAX_NAME:
        return f"file names are limited to {MAX_NAME} characters"
    if any(ord(c) < 32 or c in "\\/\x7f" for c in name):
        return "the file name has control characters or path separators"
    return None


def _open_plain(path: Path) -> int:
    """Open a regular, singly-linked file without following a symbolic link; raise `Rejected` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Rejected("symbolic links are not followed") from None
        raise Rejected(f"cannot open the file: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Rejected("not a regular file")
    if info.st_nlink != 1:
        os.close(fd)
        raise Rejected("hard-linked files are not imported")
    return fd


def _read_small(path: Path) -> bytes:
    fd = _open_plain(path)
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_SETTINGS_BYTES + 1)
    if len(data) > MAX_SETTINGS_BYTES:
        raise Rejected(f"{path.name}: settings files are limited to {MAX_SETTINGS_BYTES} bytes")
    return data


def _sha256(path: Path) -> str:
    fd = _open_plain(path)
    with os.fdopen(fd, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _free_name(directory: Path, name: str) -> Path:
    """`directory/name`, or `name.1`, `name.2`... when a file of that name was moved there before."""
    candidate, n = directory / name, 0
    while os.path.lexists(candidate) or os.path.lexists(f"{candidate}.result.json"):
        n += 1
        candidate = directory / f"{name}.{n}"
    return candidate


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --- settings ------------------------------------------------------------------------------------------------


def _load_settings(incoming: Path, name: str) -> dict[str, Any]:
    """The file's settings, with mapping and layout files read and inlined (kept with the file while it imports)."""
    sidecar = incoming / f"{name}{SIDECAR}"
    source = sidecar if os.path.lexists(sidecar) else incoming / DIRECTORY_SETTINGS
    if not os.path.lexists(source):
        raise Rejected(f"no settings: add {name}{SIDECAR} or {DIRECTORY_SETTINGS} with at least the list name")
    try:
        raw = json.loads(_read_small(source).decode("utf-8-sig"))
        parsed = DropSettings.model_validate(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Rejected(f"{source.name} is not UTF-8 JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise Rejected(f"{source.name}: {where}: {first['msg']}") from None
    settings = parsed.model_dump(mode="json")
    for key in ("mapping", "layout"):
        value = settings[key]
        if isinstance(value, str):
            problem = _bad_name(value)
            if problem or value.startswith(".") or value in ("", ".", ".."):
                raise Rejected(f"{source.name}: {key} must name a file in the same directory")
            try:
                settings[key] = json.loads(_read_small(incoming / value).decode("utf-8-sig"))
            except FileNotFoundError:
                raise Rejected(f"{source.name}: {key} file {value} is missing") from None
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise Rejected(f"{key} file {value} is not UTF-8 JSON") from None
    try:
        if settings["mapping"] is not None:
            ColumnMapping.from_json(settings["mapping"])
        if settings["layout"] is not None:
            parse_layout(settings["layout"])
    except (MappingError, SourceFileError) as exc:
        raise Rejected(str(exc)) from None
    if settings["format"] == "fixed" and settings["layout"] is None:
        raise Rejected("fixed-width files need a layout")
    if settings["mapping"] is not None and settings["mapping_template"] is not None:
        raise Rejected(f"{source.name}: give either mapping or mapping_template, not both")
    return settings


def _stored_settings(path: Path) -> dict[str, Any]:
    """The settings kept with a taken file in processing/."""
    try:
        settings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        DropSettings.model_validate({k: v for k, v in settings.items() if k != "import_id"})
    except FileNotFoundError:
        raise Rejected("its settings were lost; drop the file again with its settings") from None
    except (ValueError, ValidationError):
        raise Rejected("its stored settings are damaged; drop the file again with its settings") from None
    return settings


# --- the watcher ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[bool]:
    """One watcher at a time (a server and a `contacts watch` may run together); False when another holds it."""
    lock_dir = data_dir / "dropbox"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".watch.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def poll(db: Database, *, data_dir: Path, settle_seconds: float, now: float | None = None) -> list[Outcome]:
    """One pass over every institution's drop directory: resume files left in processing/, then take the
    complete files of incoming/. Returns what happened to each file handled."""
    outcomes: list[Outcome] = []
    with _exclusive(data_dir) as mine:
        if not mine:
            return outcomes
        with db.scoped() as session:
            tenants = [tenancy.get(session, tenant_id=t) for t in tenancy.all_tenant_ids(session)]
            targets = [(t.id, t.slug, t.kind) for t in tenants]
            session.rollback()
        for tenant_id, slug, kind in targets:
            root = tenant_dir(data_dir, slug)
            if not _real_dir(root) or not _real_dir(root / "incoming"):
                continue
            actor = system_principal(tenant_id=tenant_id, tenant_slug=slug, tenant_kind=kind, name="dropbox")
            try:
                outcomes += _DropDirectory(db, root, actor, data_dir).poll(settle_seconds, now or time.time())
            except Exception:  # one institution's broken directory does not stop the others
                log.exception("drop directory unusable", tenant=slug)
    return outcomes


def watch(db: Database, *, data_dir: Path, settle_seconds: float, interval: float, stop: threading.Event) -> None:
    """Poll every `interval` seconds until `stop` is set (the server's background task, `contacts watch`)."""
    while not stop.is_set():
        try:
            poll(db, data_dir=data_dir, settle_seconds=settle_seconds)
        except Exception:
            log.exception("drop directory poll failed")
        stop.wait(interval)


class _DropDirectory:
    def __init__(self, db: Database, root: Path, actor: Principal, data_dir: Path) -> None:
        self.db, self.root, self.actor, self.data_dir = db, root, actor, data_dir
        self.incoming, self.processing = root / "incoming", root / "processing"
        for name in SUBDIRS[1:]:
            path = root / name
            if os.path.lexists(path) and not _real_dir(path):
                raise RuntimeError(f"drop directory of {actor.tenant_slug}: {name} is not a directory")
            path.mkdir(exist_ok=True)

    def poll(self, settle_seconds: float, now: float) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for name in sorted(os.listdir(self.processing)):
            if not name.endswith(SIDECAR) and not name.startswith("."):
                outcomes += self._guarded(self._import, name)
        for name in sorted(os.listdir(self.incoming)):
            if _is_auxiliary(name):
                continue
            taken = self._take(name, settle_seconds, now)
            if isinstance(taken, Outcome):
                outcomes.append(taken)
            elif taken:
                outcomes += self._guarded(self._import, name)
        return outcomes

    def _guarded(self, step: Callable[[str], Outcome], name: str) -> list[Outcome]:
        """Run one file; an unexpected error leaves it in processing/, where the next poll resumes its job."""
        try:
            return [step(name)]
        except Exception:
            log.exception("drop directory import broke off; it resumes at the next poll", tenant=self.actor.tenant_slug)
            return []

    def _take(self, name: str, settle_seconds: float, now: float) -> Outcome | Literal[True] | None:
        """Move a complete file with its settings to processing/ (True), refuse it (an Outcome), or wait (None)."""
        path = self.incoming / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(info.st_mode):
            return None  # a directory is not a file to import (and never entered)
        problem = _bad_name(name)
        if problem is None and stat.S_ISLNK(info.st_mode):
            problem = "symbolic links are not followed"
        elif problem is None and not stat.S_ISREG(info.st_mode):
            problem = "not a regular file"
        elif problem is None and info.st_nlink != 1:
            problem = "hard-linked files are not imported"
        if problem is not None:
            return self._refuse(path, problem)
        marker = self.incoming / f"{name}{MARKER}"
        if not os.path.lexists(marker) and now - info.st_mtime < settle_seconds:
            return None  # still arriving (or quiet for less than settle_seconds)
        try:
            settings = _load_settings(self.incoming, name)
        except Rejected as exc:
            return self._refuse(path, exc.reason)
        if os.path.lexists(self.processing / name):
            return None  # a file of that name is still importing; take this one when it is done
        # Settings first, then the file: a crash in between leaves the file in incoming/ to be taken again.
        _write_json(self.processing / f"{name}{SIDECAR}", settings)
        try:
            os.rename(path, self.processing / name)
        except FileNotFoundError:
            return None  # another watcher took it
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.incoming / f"{name}{SIDECAR}")
        return True

    def _import(self, name: str) -> Outcome:
        path, settings_path = self.processing / name, self.processing / f"{name}{SIDECAR}"
        job_id: uuid.UUID | None = None
        try:
            settings = _stored_settings(settings_path)
            if settings.get("import_id"):
                # Taken before a crash: if its job already finished, only the move was missing.
                job = self._job(uuid.UUID(settings["import_id"]))
                if job is not None and job.status == "finished":
                    counts = {k: getattr(job, k) for k in ("total", "accepted", "rejected", "duplicates")}
                    return self._done(name, "imported", job.id, counts, "", report=Path(job.report_path))
            digest = _sha256(path)
            earlier = self._imported_before(digest)
            if earlier is not None:
                return self._done(name, "duplicate", earlier, {}, f"already imported (import {earlier})")
            with self.db.scoped() as session:
                set_tenant(session, self.actor.tenant_id)
                purpose = Purpose(settings["purpose"]) if settings.get("purpose") else None
                list_id, _ = import_service.ensure_list(
                    session, actor=self.actor, name=settings["list"], purpose=purpose
                )
                started = import_service.start_import(
                    session,
                    actor=self.actor,
                    list_id=list_id,
                    path=path,
                    file_name=name,
                    fmt=settings["format"],
                    mapping=ColumnMapping.from_json(settings["mapping"]) if settings["mapping"] else None,
                    report_path=None,
                    data_dir=self.data_dir,
                    sha256=digest,
                    mapping_template=settings.get("mapping_template"),
                )
            job_id = started.job_id
            _write_json(settings_path, {**settings, "import_id": str(job_id)})
            layout = parse_layout(settings["layout"]) if settings["layout"] else None
            result = import_service.run_job(self.db, actor=self.actor, job_id=job_id, path=path, layout=layout)
        except Rejected as exc:
            return self._done(name, "failed", job_id, {}, exc.reason)
        except (DomainError, MappingError, SourceFileError) as exc:
            return self._done(name, "failed", job_id, {}, _message(exc))
        counts = {k: v for k, v in result.to_json().items() if isinstance(v, int)}
        return self._done(name, "imported", job_id, counts, "", report=result.report_path)

    def _job(self, job_id: uuid.UUID) -> ImportJob | None:
        with self.db.scoped() as session:
            set_tenant(session, self.actor.tenant_id)
            job = session.get(ImportJob, job_id)
            if job is not None:
                session.expunge(job)
            session.rollback()
            return job

    def _imported_before(self, digest: str) -> uuid.UUID | None:
        with self.db.scoped() as session:
            set_tenant(session, self.actor.tenant_id)
            found = session.scalars(
                select(ImportJob.id).where(ImportJob.file_sha256 == digest, ImportJob.status == "finished")
            ).first()
            session.rollback()
            return found

    def _refuse(self, path: Path, reason: str) -> Outcome:
        """Move a file refused before it was taken straight to failed/ (a link is moved, never followed)."""
        target = _free_name(self.root / "failed", path.name)
        os.rename(path, target)
        for extra in (f"{path.name}{MARKER}", f"{path.name}{SIDECAR}"):
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.incoming / extra, target.with_name(target.name + extra[len(path.name) :]))
        return self._record(path.name, target, "failed", None, {}, reason)

    def _done(
        self,
        name: str,
        status: Literal["imported", "failed", "duplicate"],
        job_id: uuid.UUID | None,
        counts: dict[str, int],
        error: str,
        report: Path | None = None,
    ) -> Outcome:
        target = _free_name(self.root / ("processed" if status == "imported" else "failed"), name)
        os.rename(self.processing / name, target)
        if report is not None and report.is_file() and report.stat().st_size > 0:
            shutil.copyfile(report, target.with_name(f"{target.name}.errors.csv"))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.processing / f"{name}{SIDECAR}")
        return self._record(name, target, status, job_id, counts, error)

    def _record(
        self,
        name: str,
        target: Path,
        status: Literal["imported", "failed", "duplicate"],
        job_id: uuid.UUID | None,
        counts: dict[str, int],
        error: str,
    ) -> Outcome:
        result = {"file": name, "status": status, "import_id": str(job_id) if job_id else None, **counts}
        if error:
            result["error"] = error
        _write_json(target.with_name(f"{target.name}.result.json"), result)
        if status != "imported":
            # The import itself is audited by the import service; a file refused before is audited here.
            # File names can hold customer names, so the audit record keeps the outcome only.
            with self.db.scoped() as session:
                set_tenant(session, self.actor.tenant_id)
                audit.record(
                    session,
                    actor=self.actor,
                    action=f"contact.dropbox.{'duplicate' if status == 'duplicate' else 'reject'}",
                    object_type="import",
                    object_id=job_id or "",
                    outcome="failure",
                    details={"duplicate_of": str(job_id)} if status == "duplicate" else {},
                )
                session.commit()
        log.info("drop directory file handled", tenant=self.actor.tenant_slug, status=status, import_id=str(job_id))
        return Outcome(self.actor.tenant_slug, name, status, job_id, counts, error, target)


def _message(exc: Exception) -> str:
    return (exc.detail if isinstance(exc, DomainError) else str(exc))[:500]
