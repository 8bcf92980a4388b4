"""Hand-back and offboarding: queries and the job-row transitions, each audited in the institution's chain and the
operator's. The file and row work itself is in `export` and `offboard`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.core import clock
from callvault.core.errors import Conflict, NotFound
from callvault.core.tenant_context import set_tenant, tenant
from callvault.identity import auth
from callvault.offboarding.models import TenantExport, TenantOffboarding
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.tenancy import service as tenancy
from callvault.tenancy.models import Tenant, TenantStatus

# Offboarding steps past which the keys are gone: nothing can be exported any more.
KEYS_GONE_STEPS = frozenset({"keys_destroyed", "rows_deleted", "files_deleted", "numbers_released", "completed"})


@dataclass(frozen=True, slots=True)
class InstitutionRef:
    """The institution a job works on (plain values: the session's tenant switches drop ORM objects)."""

    id: uuid.UUID
    slug: str
    name: str

    @classmethod
    def of(cls, inst: Tenant) -> InstitutionRef:
        return cls(inst.id, inst.slug, inst.name)


def institution(session: Session, *, slug: str) -> Tenant:
    """The institution with this slug (never the operator), or NotFound."""
    found = tenancy.get_by_slug(session, slug=slug)
    if found is None or found.is_operator:
        raise NotFound(f"no institution {slug}")
    return found


def offboarding_of(session: Session, *, tenant_id: uuid.UUID) -> TenantOffboarding | None:
    return session.scalars(select(TenantOffboarding).where(TenantOffboarding.tenant_id == tenant_id)).one_or_none()


def exportable_institution(session: Session, *, slug: str) -> InstitutionRef:
    inst = institution(session, slug=slug)
    job = offboarding_of(session, tenant_id=inst.id)
    if (job is not None and job.step in KEYS_GONE_STEPS) or inst.status == TenantStatus.OFFBOARDED.value:
        raise Conflict(f"{slug} is offboarded; its data no longer exists")
    return InstitutionRef.of(inst)


def audit_both(
    session: Session,
    *,
    actor: Principal,
    inst_id: uuid.UUID,
    action: str,
    outcome: str = "success",
    details: dict[str, Any],
) -> None:
    """Append the same record to the institution's chain and to the operator's, in the caller's transaction."""
    with tenant(session, inst_id):
        audit.record(
            session,
            actor=actor,
            action=action,
            object_type="tenant",
            object_id=inst_id,
            outcome=outcome,
            details=details,
        )
    set_tenant(session, actor.tenant_id)
    audit.record(
        session, actor=actor, action=action, object_type="tenant", object_id=inst_id, outcome=outcome, details=details
    )


def begin_export(session: Session, *, actor: Principal, inst_id: uuid.UUID, out_dir: str) -> TenantExport:
    """Start an export into `out_dir`, or resume the unfinished one there."""
    actor.require("tenant.manage")
    job = session.scalars(
        select(TenantExport).where(
            TenantExport.tenant_id == inst_id, TenantExport.out_dir == out_dir, TenantExport.completed_at.is_(None)
        )
    ).first()
    phase = "resumed"
    if job is None:
        job = TenantExport(tenant_id=inst_id, out_dir=out_dir, started_at=clock.now())
        session.add(job)
        session.flush()
        phase = "started"
    audit_both(
        session,
        actor=actor,
        inst_id=inst_id,
        action="tenant.export",
        details={"phase": phase, "export_id": str(job.id)},
    )
    session.commit()
    return job


def complete_export(
    session: Session, *, actor: Principal, export_id: uuid.UUID, files: int, rows: int, manifest_sha256: str
) -> TenantExport:
    actor.require("tenant.manage")
    job = session.get(TenantExport, export_id)
    if job is None:
        raise NotFound("no such export")
    job.completed_at = clock.now()
    job.files, job.rows, job.manifest_sha256 = files, rows, manifest_sha256
    audit_both(
        session,
        actor=actor,
        inst_id=job.tenant_id,
        action="tenant.export",
        details={
            "phase": "completed",
            "export_id": str(job.id),
            "files": files,
            "rows": rows,
            "manifest": f"sha256:{manifest_sha256}",
        },
    )
    session.commit()
    return job


def latest_completed_export(session: Session, *, tenant_id: uuid.UUID) -> TenantExport | None:
    return session.scalars(
        select(TenantExport)
        .where(TenantExport.tenant_id == tenant_id, TenantExport.completed_at.is_not(None))
        .order_by(TenantExport.completed_at.desc())
    ).first()


def export_by_id(session: Session, *, export_id: uuid.UUID) -> TenantExport | None:
    return session.get(TenantExport, export_id)


def start_offboarding(session: Session, *, actor: Principal, slug: str, without_export: bool) -> InstitutionRef:
    """Lock the institution (no logins, API clients refused, sessions ended) and create its offboarding job;
    a rerun finds the job and continues it."""
    actor.require("tenant.manage")
    inst = institution(session, slug=slug)
    ref = InstitutionRef.of(inst)
    if offboarding_of(session, tenant_id=inst.id) is not None:
        return ref
    export = latest_completed_export(session, tenant_id=inst.id)
    if export is None and not without_export:
        raise Conflict(
            f"{slug} has no completed export; run `callvault tenant export {slug} --out DIR` first "
            "(or pass --without-export to destroy its data without handing it back)"
        )
    now = clock.now()
    session.add(
        TenantOffboarding(
            tenant_id=inst.id,
            tenant_slug=inst.slug,
            step="locked",
            export_id=export.id if export else None,
            without_export=export is None,
            started_at=now,
            updated_at=now,
        )
    )
    inst.status = TenantStatus.OFFBOARDING.value
    ended = auth.end_tenant_sessions(session, tenant_id=inst.id)
    audit_both(
        session,
        actor=actor,
        inst_id=inst.id,
        action="tenant.offboard",
        details={"phase": "locked", "without_export": export is None, "sessions_ended": ended},
    )
    session.commit()
    return ref
