"""Imports every domain's models so `Base.metadata` describes the whole schema (migrations, schema tests)."""

from callvault.acd.models import (
    AcdAgent,
    AcdAgentSkill,
    AcdAgentStateChange,
    AcdPauseReason,
    AcdQueue,
    AcdRoutingDecision,
)
from callvault.core.models import Base
from callvault.core.outbox_models import OutboxEvent
from callvault.identity.models import (
    ApiClient,
    ApiNonce,
    AuthSession,
    IdempotencyRecord,
    Role,
    User,
    UserRole,
)
from callvault.ivr.models import IvrFlow, IvrFlowVersion, IvrLookupKey
from callvault.security.audit_models import AuditChainHead, AuditCheckpoint, AuditEvent
from callvault.tenancy.models import Tenant

__all__ = [
    "AcdAgent",
    "AcdAgentSkill",
    "AcdAgentStateChange",
    "AcdPauseReason",
    "AcdQueue",
    "AcdRoutingDecision",
    "ApiClient",
    "ApiNonce",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "AuthSession",
    "Base",
    "IdempotencyRecord",
    "IvrFlow",
    "IvrFlowVersion",
    "IvrLookupKey",
    "OutboxEvent",
    "Role",
    "Tenant",
    "User",
    "UserRole",
]

metadata = Base.metadata
