"""Writing audit records. Every action function calls `record` inside its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from callvault.core.tenant_context import current_tenant
from callvault.security.audit_models import AuditEvent
from callvault.security.principal import Principal


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    object_type: str = "",
    object_id: object = "",
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit record to the session's tenant. `details` must never hold a sensitive value."""
    event = AuditEvent(
        tenant_id=current_tenant(session),
        actor=actor.actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id else "",
        outcome=outcome,
        source_ip=actor.source_ip,
        request_id=actor.request_id,
        details=details or {},
    )
    session.add(event)
    return event
