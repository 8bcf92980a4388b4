"""Words the pages translate from data (states, purposes, reasons, field names): the catalogs must hold each one.

Templates show them through `_()`; the catalog test checks these lists as well as the literal template strings."""

from __future__ import annotations

from typing import Final

from callvault.contacts.schemas import RevealReason
from callvault.dnc.policy import Purpose
from callvault.identity.permissions import CATALOGUE, builtin_roles
from callvault.tenancy.totals import COUNTED
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
)


def dynamic_message_ids() -> list[str]:
    ids = [item.label for item in NAV]
    ids += list(NOTICES.values())
    ids += list(STATES)
    ids += [p.value for p in Purpose]
    ids += [r.value for r in RevealReason]
    ids += list(REVEALABLE)
    ids += list(COUNTED)
    ids += [p.description for p in CATALOGUE.values()]
    ids += [r.description for kind in ("institution", "operator") for r in builtin_roles(kind)]
    return list(dict.fromkeys(ids))
