"""Imports every domain's models so `Base.metadata` describes the whole schema (migrations, schema tests)."""

from callvault.acd.models import (
    AcdAgent,
    AcdAgentSkill,
    AcdAgentStateChange,
    AcdPauseReason,
    AcdQueue,
    AcdRoutingDecision,
)
from callvault.billing.models import (
    BillingInvoice,
    BillingInvoiceLine,
    BillingRatedLeg,
    BillingTariff,
    BillingTrunkCost,
)
from callvault.campaigns.models import Campaign, CampaignBlockedCount, CampaignContact, DialAttempt
from callvault.contacts.import_models import ImportJob
from callvault.contacts.mapping_models import ImportMapping
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
from callvault.services.models import ServiceLease
from callvault.sipedge.models import SipDid, SipEndpoint, SipTrunk
from callvault.tenancy.models import Tenant
from callvault.trigger.models import CallRequest
from callvault.webhooks.models import WebhookDelivery, WebhookSecret

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
    "BillingInvoice",
    "BillingInvoiceLine",
    "BillingRatedLeg",
    "BillingTariff",
    "BillingTrunkCost",
    "CallRequest",
    "Campaign",
    "CampaignBlockedCount",
    "CampaignContact",
    "ConsentRecord",
    "ContactList",
    "ContactPhone",
    "ContactRecord",
    "DialAttempt",
    "DncEntry",
    "GlobalDncEntry",
    "IdempotencyRecord",
    "ImportJob",
    "ImportMapping",
    "Interaction",
    "InteractionLeg",
    "IvrFlow",
    "IvrFlowVersion",
    "IvrLookupKey",
    "OutboxEvent",
    "Recording",
    "Role",
    "ServiceLease",
    "SipDid",
    "SipEndpoint",
    "SipTrunk",
    "Tenant",
    "TenantExport",
    "TenantKeyRow",
    "TenantKeyTombstone",
    "TenantOffboarding",
    "User",
    "UserRole",
    "WebhookDelivery",
    "WebhookSecret",
]

metadata = Base.metadata
