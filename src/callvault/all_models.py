"""Imports every domain's models so `Base.metadata` describes the whole schema (migrations, schema tests)."""

from callvault.acd.models import (
    AcdAgent,
    AcdAgentSkill,
    AcdAgentStateChange,
    AcdPauseReason,
    AcdQueue,
    AcdRoutingDecision,
)
from callvault.contacts.import_models import ImportJob
from callvault.contacts.models import ContactList, ContactPhone, ContactRecord
from callvault.core.models import Base
from callvault.core.outbox_models import OutboxEvent
from callvault.dnc.models import ConsentRecord, DncEntry, GlobalDncEntry
from callvault.identity.models import (
    ApiClient,
    ApiNonce,
    AuthSession,
    IdempotencyRecord,
    Role,
    User,
    UserRole,
)
from callvault.interactions.models import Interaction, InteractionLeg, Recording
from callvault.ivr.models import IvrFlow, IvrFlowVersion, IvrLookupKey
from callvault.offboarding.models import TenantExport, TenantOffboarding
from callvault.security.audit_models import AuditChainHead, AuditCheckpoint, AuditEvent
from callvault.security.vault_models import TenantKeyRow, TenantKeyTombstone
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
    "ConsentRecord",
    "ContactList",
    "ContactPhone",
    "ContactRecord",
    "DncEntry",
    "GlobalDncEntry",
    "IdempotencyRecord",
    "ImportJob",
    "Interaction",
    "InteractionLeg",
    "IvrFlow",
    "IvrFlowVersion",
    "IvrLookupKey",
    "OutboxEvent",
    "Recording",
    "Role",
    "Tenant",
    "TenantExport",
    "TenantKeyRow",
    "TenantKeyTombstone",
    "TenantOffboarding",
    "User",
    "UserRole",
]

metadata = Base.metadata
