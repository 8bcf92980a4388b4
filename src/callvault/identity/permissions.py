"""The catalogue of permissions (dotted names) and the built-in roles every tenant starts with."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Scope(enum.StrEnum):
    OPERATOR = "operator"
    INSTITUTION = "institution"
    ANY = "any"


@dataclass(frozen=True)
class Permission:
    name: str
    scope: Scope
    description: str


CATALOGUE: dict[str, Permission] = {
    p.name: p
    for p in (
        Permission("tenant.read", Scope.OPERATOR, "List and view institutions"),
        Permission("tenant.manage", Scope.OPERATOR, "Create, suspend and configure institutions"),
        Permission("user.read", Scope.ANY, "View users of one's own tenant"),
        Permission("user.manage", Scope.ANY, "Create, disable and change users of one's own tenant"),
        Permission("role.read", Scope.ANY, "View roles"),
        Permission("role.manage", Scope.ANY, "Create and change roles"),
        Permission("apiclient.read", Scope.INSTITUTION, "View API clients"),
        Permission("apiclient.manage", Scope.INSTITUTION, "Create and revoke API clients"),
        Permission("audit.read", Scope.ANY, "Read and export the audit trail"),
        Permission("report.read", Scope.ANY, "Read reports and statistics"),
        Permission("contact.read", Scope.INSTITUTION, "View customer records (masked)"),
        Permission("contact.reveal", Scope.INSTITUTION, "Reveal unmasked customer fields (audited)"),
        Permission("contact.import", Scope.INSTITUTION, "Import call lists"),
        Permission("data.retention", Scope.INSTITUTION, "Purge customer data past its retention period (audited)"),
        Permission("dnc.read", Scope.ANY, "View do-not-call entries and consent records (masked)"),
        Permission("dnc.manage", Scope.ANY, "Add and remove do-not-call entries; record and withdraw consent"),
        Permission("campaign.read", Scope.INSTITUTION, "View campaigns, their attempts and blocked counts"),
        Permission("campaign.create", Scope.INSTITUTION, "Create and edit campaigns"),
        Permission("campaign.approve", Scope.INSTITUTION, "Approve campaigns"),
        Permission("campaign.start", Scope.INSTITUTION, "Start, pause and finish campaigns"),
        Permission("call.trigger", Scope.INSTITUTION, "Order a call through the real-time trigger API"),
        Permission("webhook.manage", Scope.INSTITUTION, "Create webhook secrets; list and redeliver dead letters"),
        Permission("interaction.read", Scope.INSTITUTION, "View call records and their legs (numbers masked)"),
        Permission("interaction.record", Scope.INSTITUTION, "Write call records (the telephony engine's recorder)"),
        Permission("recording.play", Scope.INSTITUTION, "Stream recordings (audited)"),
        Permission("recording.download", Scope.INSTITUTION, "Download recordings (audited)"),
        Permission("agent.handle", Scope.ANY, "Take calls at the agent desktop"),
        Permission("agent.supervise", Scope.ANY, "Force agents' states; listen, whisper, barge"),
        Permission("queue.manage", Scope.ANY, "Create and change queues, skills and pause reasons"),
        Permission("billing.read", Scope.ANY, "View tariffs and invoices"),
        Permission("ivr.read", Scope.INSTITUTION, "View IVR flows and their versions"),
        Permission("ivr.manage", Scope.INSTITUTION, "Edit, publish and roll back IVR flows"),
        Permission("sip.read", Scope.INSTITUTION, "View SIP trunks, DIDs and agent SIP phone accounts"),
        Permission("sip.manage", Scope.INSTITUTION, "Manage SIP trunks, DID entry points and agent SIP phone accounts"),
        Permission("sip.did.assign", Scope.OPERATOR, "Assign DIDs (inbound numbers) to institutions and release them"),
    )
}


def permissions_for(kind: str) -> frozenset[str]:
    """Permissions that may be granted inside a tenant of this kind ("operator" or "institution")."""
    return frozenset(p.name for p in CATALOGUE.values() if p.scope in (Scope.ANY, Scope(kind)))


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    description: str
    permissions: frozenset[str]
    requires_mfa: bool


_INSTITUTION_ROLES = (
    BuiltinRole(
        "admin",
        "Institution administrator: its users, roles and API clients",
        frozenset(
            {
                "user.read",
                "user.manage",
                "role.read",
                "role.manage",
                "apiclient.read",
                "apiclient.manage",
                "report.read",
                "campaign.read",
                "campaign.create",
                "campaign.approve",
                "campaign.start",
                "contact.import",
                "contact.read",
                "dnc.read",
                "dnc.manage",
                "billing.read",
                "queue.manage",
                "ivr.read",
                "ivr.manage",
                "call.trigger",
                "webhook.manage",
                "sip.read",
                "sip.manage",
            }
        ),
        True,
    ),
    BuiltinRole(
        "supervisor",
        "Supervises agents and queues; listens to recordings",
        frozenset(
            {
                "user.read",
                "report.read",
                "recording.play",
                "interaction.read",
                "contact.read",
                "contact.reveal",
                "campaign.read",
                "campaign.start",
                "agent.supervise",
                "queue.manage",
                "ivr.read",
            }
        ),
        True,
    ),
    # Separation of duties: only the auditor reads the audit trail, and it changes nothing.
    BuiltinRole(
        "auditor",
        "Reads the audit trail and recordings",
        frozenset({"audit.read", "recording.play", "interaction.read"}),
        True,
    ),
    BuiltinRole("agent", "Handles calls", frozenset({"agent.handle", "contact.read"}), False),
)

_OPERATOR_ROLES = (
    BuiltinRole(
        "platform_admin",
        "Operator administrator: institutions and operator staff",
        frozenset(
            {
                "tenant.read",
                "tenant.manage",
                "user.read",
                "user.manage",
                "role.read",
                "role.manage",
                "report.read",
                "billing.read",
                "dnc.read",
                "dnc.manage",
                "sip.did.assign",
            }
        ),
        True,
    ),
    BuiltinRole("team_lead", "Operator team lead", frozenset({"user.read", "report.read"}), True),
    BuiltinRole("auditor", "Reads the operator's audit trail", frozenset({"audit.read"}), True),
    BuiltinRole("agent", "Operator agent", frozenset({"agent.handle"}), False),
)


def builtin_roles(kind: str) -> tuple[BuiltinRole, ...]:
    return _OPERATOR_ROLES if kind == "operator" else _INSTITUTION_ROLES
