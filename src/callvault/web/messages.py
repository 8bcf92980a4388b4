"""Words the pages translate from data (states, purposes, reasons, field names): the catalogs must hold each one.

Templates show them through `_()`; the catalog test checks these lists as well as the literal template strings."""

from __future__ import annotations

from typing import Final

from callvault.campaigns.strategy import DialingMode
from callvault.campaigns.strategy import Status as CampaignStatus
from callvault.contacts.schemas import RevealReason
from callvault.dnc.policy import Purpose
from callvault.identity.permissions import CATALOGUE, builtin_roles
from callvault.interactions.schemas import InteractionStatus, PartyKind
from callvault.sipedge.schemas import EntryKind
from callvault.tenancy.day_totals import DAY_COUNTED
from callvault.tenancy.totals import COUNTED
from callvault.web.acd_pages import CHART_TEXTS, SCRIPT_TEXTS, STATE_LABELS
from callvault.web.campaign_pages import REFUSALS
from callvault.web.console import NAV, NOTICES
from callvault.web.contact_pages import REVEALABLE

STATES: Final = (
    "active",
    "disabled",
    "suspended",
    "offboarding",
    "offboarded",
    "revoked",
    "queued",
    "running",
    "finished",
    "failed",
    "interrupted",
    "draft",
    "published",
    "retired",
    "dead",
    "pending",
    "delivered",
)
DIRECTIONS: Final = ("inbound", "outbound")


def dynamic_message_ids() -> list[str]:
    ids = [item.label for item in NAV]
    ids += list(NOTICES.values())
    ids += list(STATES)
    ids += [s.value for s in CampaignStatus] + [s.value for s in InteractionStatus]
    ids += [m.value for m in DialingMode] + [p.value for p in PartyKind] + list(DIRECTIONS)
    ids += list(REFUSALS.values())
    ids += list(STATE_LABELS.values()) + list(SCRIPT_TEXTS.values())
    ids += [p.value for p in Purpose]
    ids += [r.value for r in RevealReason]
    ids += list(REVEALABLE)
    ids += list(COUNTED) + list(DAY_COUNTED)
    ids += list(CHART_TEXTS.values())
    ids += [k.value for k in EntryKind]
    ids += [p.description for p in CATALOGUE.values()]
    ids += [r.description for kind in ("institution", "operator") for r in builtin_roles(kind)]
    return list(dict.fromkeys(ids))
