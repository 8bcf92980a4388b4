"""Offboarding an institution: lock it, crypto-shred its keys, delete its rows and files, certify the destruction.

Each step is recorded in the institution's `TenantOffboarding` row in the same transaction as the work it
describes (keys are destroyed and the step advanced in one commit; every deleted batch adds to the per-table
counts in its own commit), so a run killed at any point is finished by running it again, and
`observe` compares the recorded step with what is really left in the database and on disk.

Order matters: keys are destroyed before any row is deleted. A crash in between leaves rows whose ciphertexts
can no longer be read (reported as "keys destroyed, rows remain"); the reverse, rows gone but a key that could
still decrypt a copy of them, never happens.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import CursorResult, Table, delete, func, select, tuple_
from sqlalchemy.orm import Session

from callvault.all_models import metadata
from callvault.config import get_settings
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import Conflict
from callvault.core.tenant_context import set_tenant, tenant
from callvault.offboarding import service
from callvault.offboarding.export import ExportProgress
from callvault.offboarding.files import write_atomic
from callvault.offboarding.models import TenantOffboarding
from callvault.offboarding.recordings import tenant_files_dir
from callvault.offboarding.service import InstitutionRef
from callvault.offboarding.tables import RETAINED_TABLES, deletion_order
from callvault.security import audit
from callvault.security.canonical import canonical_json, format_time
from callvault.security.checkpoints import public_key_id
from callvault.security.principal import Principal
from callvault.sipedge import service as sipedge
from callvault.tenancy.models import Tenant

CERTIFICATE_TYPE: Final = "callvault.offboarding-certificate.v1"


class Step(StrEnum):
    LOCKED = "locked"
    KEYS_DESTROYED = "keys_destroyed"
    ROWS_DELETED = "rows_deleted"
    FILES_DELETED = "files_deleted"
    # Last before the certificate, so a job an older release left at any earlier step passes through it too.
    NUMBERS_RELEASED = "numbers_released"
    COMPLETED = "completed"


_ORDER: Final = list(Step)


def _reached(job: TenantOffboarding, step: Step) -> bool:
    return _ORDER.index(Step(job.step)) >= _ORDER.index(step)


class KeyShredder(Protocol):
    """The vault operations offboarding needs, inside the caller's transaction."""

    def versions(self, session: Session, tenant_id: uuid.UUID) -> dict[str, list[int]]:
        """Existing key versions per purpose."""
        ...

    def destroy(self, session: Session, tenant_id: uuid.UUID) -> None:
        """Delete every key of the tenant and write its tombstone."""
        ...

    def is_destroyed(self, session: Session, tenant_id: uuid.UUID) -> bool: ...


class _Quiet:
    def file_started(self, path: str, total: int | None) -> None:
        pass

    def advanced(self, n: int) -> None:
        pass

    def file_reused(self, path: str) -> None:
        pass


@dataclass
class OffboardResult:
    tenant_id: uuid.UUID
    slug: str
    rows_deleted: dict[str, int]
    files_deleted: int
    numbers_released: int
    certificate_path: Path
    certificate: dict[str, Any]


def default_certificate_path(inst: InstitutionRef) -> Path:
    return get_settings().data_dir / "offboarding-certificates" / f"{inst.slug}-{inst.id}.json"


def _count(session: Session, table: Table, tenant_id: uuid.UUID) -> int:
    return int(
        session.execute(select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)).scalar_one()
    )


def _count_files(directory: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(directory)) if directory.exists() else 0


class _Offboarding:
    def __init__(
        self, db: Database, actor: Principal, inst: InstitutionRef, shredder: KeyShredder, progress: ExportProgress
    ) -> None:
        self.db = db
        self.actor = actor
        self.inst = inst
        self.shredder = shredder
        self.progress = progress

    @contextmanager
    def _job(self) -> Iterator[tuple[Session, TenantOffboarding]]:
        """A transaction holding the job row locked (two runs never interleave their steps)."""
        with self.db.scoped() as session:
            job = session.scalars(
                select(TenantOffboarding).where(TenantOffboarding.tenant_id == self.inst.id).with_for_update()
            ).one()
            yield session, job

    def _audit(self, session: Session, phase: Step, **details: Any) -> None:
        service.audit_both(
            session,
            actor=self.actor,
            inst_id=self.inst.id,
            action="tenant.offboard",
            details={"phase": phase.value, **details},
        )

    def destroy_keys(self) -> None:
        with self._job() as (session, job):
            if _reached(job, Step.KEYS_DESTROYED):
                return
            versions = self.shredder.versions(session, self.inst.id)
            self.shredder.destroy(session, self.inst.id)
            job.key_versions = versions
            job.keys_destroyed_at = job.updated_at = clock.now()
            job.step = Step.KEYS_DESTROYED.value
            self._audit(
                session,
                Step.KEYS_DESTROYED,
                key_versions=";".join(f"{p}:{','.join(map(str, v))}" for p, v in sorted(versions.items())),
            )
            session.commit()

    def delete_rows(self, batch_size: int) -> None:
        for table in deletion_order():
            with self.db.scoped() as session:
                set_tenant(session, self.inst.id)
                remaining = _count(session, table, self.inst.id)
                session.rollback()
            self.progress.file_started(f"delete {table.name}", remaining)
            while self._delete_batch(table, batch_size, self.progress):
                pass
        with self._job() as (session, job):
            if not _reached(job, Step.ROWS_DELETED):
                job.step = Step.ROWS_DELETED.value
                job.updated_at = clock.now()
                self._audit(session, Step.ROWS_DELETED, rows=sum(int(n) for n in job.rows_deleted.values()))
                session.commit()

    def _delete_batch(self, table: Table, batch_size: int, progress: ExportProgress) -> bool:
        """Delete one batch and add it to the job's counts in the same commit; False when none is left."""
        pk = list(table.primary_key.columns)
        victims = select(*pk).where(table.c.tenant_id == self.inst.id).limit(batch_size)
        target = pk[0].in_(victims.scalar_subquery()) if len(pk) == 1 else tuple_(*pk).in_(victims)
        with self._job() as (session, job):
            if not _reached(job, Step.KEYS_DESTROYED):
                raise Conflict("rows are only deleted after the keys were destroyed")
            set_tenant(session, self.inst.id)
            result = session.execute(delete(table).where(table.c.tenant_id == self.inst.id, target))
            deleted = int(cast("CursorResult[Any]", result).rowcount)
            if not deleted:
                session.rollback()
                return False
            counts = dict(job.rows_deleted)
            counts[table.name] = int(counts.get(table.name, 0)) + int(deleted)
            job.rows_deleted = counts
            job.updated_at = clock.now()
            session.commit()
        progress.advanced(int(deleted))
        return True

    def delete_files(self) -> None:
        directory = tenant_files_dir(get_settings(), self.inst.id)
        with self._job() as (session, job):
            if _reached(job, Step.FILES_DELETED):
                return
            # Counted once before anything is removed: a rerun after a partial removal keeps the full count.
            if job.files_deleted == 0:
                job.files_deleted = _count_files(directory)
                job.updated_at = clock.now()
                session.commit()
        self.progress.file_started("delete files", None)
        if directory.exists():
            shutil.rmtree(directory)
        with self._job() as (session, job):
            job.step = Step.FILES_DELETED.value
            job.updated_at = clock.now()
            self._audit(session, Step.FILES_DELETED, files=job.files_deleted)
            session.commit()

    def release_numbers(self) -> None:
        """Hand every DID of the institution back to the operator's inventory, in the same commit as the step.

        Recorded in the operator's chain only: the numbers are the operator's inventory, not the institution's data,
        and it is the operator who must later show where each number went."""
        with self._job() as (session, job):
            if _reached(job, Step.NUMBERS_RELEASED):
                return
            set_tenant(session, self.actor.tenant_id)  # drops loaded objects: the job row is read again below
            released = sipedge.release_institution_dids(session, actor=self.actor, institution_id=self.inst.id)
            job = session.scalars(select(TenantOffboarding).where(TenantOffboarding.tenant_id == self.inst.id)).one()
            job.numbers_released = released
            job.step = Step.NUMBERS_RELEASED.value
            job.updated_at = clock.now()
            audit.record(
                session,
                actor=self.actor,
                action="tenant.offboard",
                object_type="tenant",
                object_id=self.inst.id,
                details={"phase": Step.NUMBERS_RELEASED.value, "numbers": released},
            )
            session.commit()

    def certify(self, certificate_out: Path | None) -> OffboardResult:
        path = certificate_out or default_certificate_path(self.inst)
        with self._job() as (session, job):
            if job.step == Step.COMPLETED.value and job.certificate:
                document = json.loads(job.certificate)
            else:
                document = self._certificate(session, job)
                # Reading the institution's chain switched the session's tenant, which drops loaded objects.
                job = session.scalars(
                    select(TenantOffboarding).where(TenantOffboarding.tenant_id == self.inst.id)
                ).one()
                raw = canonical_json(document["certificate"])
                completed = clock.now()
                job.completed_at = job.updated_at = completed
                job.step = Step.COMPLETED.value
                inst = session.get(Tenant, self.inst.id)
                assert inst is not None
                inst.status = "offboarded"
                set_tenant(session, self.actor.tenant_id)
                audit.record(
                    session,
                    actor=self.actor,
                    action="tenant.offboard",
                    object_type="tenant",
                    object_id=self.inst.id,
                    details=_certificate_details(document["certificate"], raw),
                )
                job.certificate = json.dumps(document, sort_keys=True)
                write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))
                session.commit()
            if not path.exists():
                write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))
            rows = {k: int(v) for k, v in job.rows_deleted.items()}
            return OffboardResult(
                self.inst.id, self.inst.slug, rows, job.files_deleted, job.numbers_released, path, document
            )

    def _certificate(self, session: Session, job: TenantOffboarding) -> dict[str, Any]:
        with tenant(session, self.inst.id):
            head = audit.chain_head(session)
            retained = {name: _count(session, metadata.tables[name], self.inst.id) for name in sorted(RETAINED_TABLES)}
            remaining = {t.name: _count(session, t, self.inst.id) for t in deletion_order()}
        if any(remaining.values()):
            raise Conflict("rows of the institution remain; the certificate is only written once none do")
        if sipedge.count_institution_dids(session, institution_id=self.inst.id):
            raise Conflict(
                "numbers are still assigned to the institution; the certificate is only written once none are"
            )
        export = service.export_by_id(session, export_id=job.export_id) if job.export_id else None
        signer = audit.signer()
        certificate = {
            "type": CERTIFICATE_TYPE,
            "tenant": {"id": str(self.inst.id), "slug": self.inst.slug, "name": self.inst.name},
            "started_at": format_time(job.started_at),
            "keys_destroyed_at": format_time(job.keys_destroyed_at) if job.keys_destroyed_at else None,
            "completed_at": format_time(clock.now()),
            "key_versions_destroyed": job.key_versions,
            "rows_deleted": {k: int(v) for k, v in sorted(job.rows_deleted.items())},
            "rows_retained_by_operator": retained,
            "files_deleted": job.files_deleted,
            "numbers_released": job.numbers_released,
            "export": (
                {
                    "id": str(export.id),
                    "completed_at": format_time(export.completed_at) if export.completed_at else None,
                    "manifest_sha256": export.manifest_sha256,
                }
                if export is not None
                else None
            ),
            "without_export": job.without_export,
            "institution_audit_head": {"seq": head.seq, "hash": head.hash},
            "signing_key_id": signer.key_id,
        }
        signature = signer.sign_bytes(canonical_json(certificate))
        return {"certificate": certificate, "signature": base64.b64encode(signature).decode("ascii")}


def _certificate_details(certificate: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """The operator's audit record of the certificate: counts and hashes only."""
    import hashlib

    head = certificate["institution_audit_head"]
    return {
        "phase": Step.COMPLETED.value,
        "certificate": f"sha256:{hashlib.sha256(raw).hexdigest()}",
        "rows_deleted": certificate["rows_deleted"],
        "files_deleted": certificate["files_deleted"],
        "numbers_released": certificate["numbers_released"],
        "key_versions": ";".join(
            f"{p}:{','.join(map(str, v))}" for p, v in sorted(certificate["key_versions_destroyed"].items())
        ),
        "institution_audit_seq": head["seq"],
        "institution_audit_head": f"sha256:{head['hash']}",
    }


def verify_certificate(document: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True if the certificate's signature is valid for `public_key`."""
    certificate = document.get("certificate")
    if not isinstance(certificate, dict) or certificate.get("type") != CERTIFICATE_TYPE:
        return False
    if certificate.get("signing_key_id") != public_key_id(public_key):
        return False
    try:
        public_key.verify(
            base64.b64decode(str(document.get("signature", "")), validate=True), canonical_json(certificate)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def run_offboarding(
    db: Database,
    *,
    actor: Principal,
    slug: str,
    shredder: KeyShredder,
    without_export: bool = False,
    batch_size: int = 1000,
    certificate_out: Path | None = None,
    progress: ExportProgress | None = None,
) -> OffboardResult:
    """Offboard institution `slug`, or finish an offboarding an earlier run began."""
    with db.scoped() as session:
        inst = service.start_offboarding(session, actor=actor, slug=slug, without_export=without_export)
    run = _Offboarding(db, actor, inst, shredder, progress or _Quiet())
    run.destroy_keys()
    run.delete_rows(batch_size)
    run.delete_files()
    run.release_numbers()
    return run.certify(certificate_out)


@dataclass
class OffboardStatus:
    """What `callvault tenant offboard-status` reports."""

    slug: str
    tenant_id: str
    tenant_status: str
    step: str | None
    keys: dict[str, list[int]]
    keys_destroyed: bool
    rows_remaining: dict[str, int]
    rows_retained: dict[str, int]
    files_remaining: int
    rows_deleted: dict[str, int] = field(default_factory=dict)
    export_completed: bool = False
    numbers_assigned: int = 0  # DIDs still assigned to the institution (none once the numbers are released)

    @property
    def finished(self) -> bool:
        return self.step in (None, Step.COMPLETED.value) and self.consistent

    @property
    def consistent(self) -> bool:
        data_left = any(self.rows_remaining.values()) or self.files_remaining > 0
        if self.step is None:
            return not self.keys_destroyed
        if self.step == Step.COMPLETED.value:
            return self.keys_destroyed and not self.keys and not data_left
        if self.step == Step.LOCKED.value:
            return not self.keys_destroyed
        return self.keys_destroyed and not self.keys

    @property
    def verdict(self) -> str:
        data_left = sum(self.rows_remaining.values())
        if not self.consistent:
            return (
                f"INCONSISTENT: recorded step {self.step}, keys destroyed={self.keys_destroyed}, "
                f"{len(self.keys)} key purpose(s) present, {data_left} rows and {self.files_remaining} files left"
            )
        if self.step is None:
            return f"{self.slug} is not being offboarded"
        if self.step == Step.COMPLETED.value:
            return f"{self.slug} is offboarded: keys destroyed, no rows or files left; certificate issued"
        if self.step == Step.LOCKED.value:
            return (
                f"UNFINISHED: {self.slug} is locked (no logins, API refused); keys and data still intact. "
                f"Run `callvault tenant offboard {self.slug} --confirm {self.slug}` to continue"
            )
        if not data_left and not self.files_remaining:
            return f"UNFINISHED: keys, rows and files of {self.slug} are destroyed; the certificate is not issued yet"
        return (
            f"UNFINISHED: keys destroyed (every ciphertext is unreadable) but {data_left} rows and "
            f"{self.files_remaining} files remain. Run `callvault tenant offboard {self.slug} --confirm {self.slug}` "
            "to finish"
        )

    def summary(self) -> list[tuple[str, str]]:
        return [
            ("institution", f"{self.slug} ({self.tenant_id})"),
            ("tenant status", self.tenant_status),
            ("recorded step", self.step or "-"),
            ("completed export", "yes" if self.export_completed else "no"),
            ("keys present", ", ".join(f"{p}: v{','.join(map(str, v))}" for p, v in self.keys.items()) or "none"),
            ("key tombstone", "yes" if self.keys_destroyed else "no"),
            ("rows remaining", str(sum(self.rows_remaining.values()))),
            ("rows deleted", str(sum(self.rows_deleted.values()))),
            ("audit rows retained", str(sum(self.rows_retained.values()))),
            ("files remaining", str(self.files_remaining)),
            ("numbers still assigned", str(self.numbers_assigned)),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "tenant_id": self.tenant_id,
            "tenant_status": self.tenant_status,
            "step": self.step,
            "keys": self.keys,
            "keys_destroyed": self.keys_destroyed,
            "rows_remaining": self.rows_remaining,
            "rows_deleted": self.rows_deleted,
            "rows_retained": self.rows_retained,
            "files_remaining": self.files_remaining,
            "export_completed": self.export_completed,
            "numbers_assigned": self.numbers_assigned,
            "consistent": self.consistent,
            "finished": self.finished,
            "verdict": self.verdict,
        }


def observe(db: Database, *, slug: str, shredder: KeyShredder) -> OffboardStatus:
    """The recorded step next to what is actually left: keys, tombstone, rows per table, files."""
    with db.scoped() as session:
        inst = service.institution(session, slug=slug)
        job = service.offboarding_of(session, tenant_id=inst.id)
        keys = {p: v for p, v in shredder.versions(session, inst.id).items() if v}
        destroyed = shredder.is_destroyed(session, inst.id)
        export_done = service.latest_completed_export(session, tenant_id=inst.id) is not None
        numbers = sipedge.count_institution_dids(session, institution_id=inst.id)
        with tenant(session, inst.id):
            remaining = {t.name: _count(session, t, inst.id) for t in deletion_order()}
            retained = {n: _count(session, metadata.tables[n], inst.id) for n in sorted(RETAINED_TABLES)}
        session.rollback()
        return OffboardStatus(
            slug=inst.slug,
            tenant_id=str(inst.id),
            tenant_status=inst.status,
            step=job.step if job else None,
            keys=keys,
            keys_destroyed=destroyed,
            rows_remaining={k: v for k, v in remaining.items() if v},
            rows_retained=retained,
            files_remaining=_count_files(tenant_files_dir(get_settings(), inst.id)),
            rows_deleted={k: int(v) for k, v in (job.rows_deleted if job else {}).items()},
            export_completed=export_done,
            numbers_assigned=numbers,
        )
