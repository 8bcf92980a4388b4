"""Console pages of campaigns: the list with status and counters, one campaign, and approve / start / pause.

Each button is a form with the session's CSRF token that calls the same action function as the API, which checks
the permission and the rules again. A refusal the user can act on (four eyes, a state that does not allow the
step) is shown on the campaign's page with what to do, not as a bare error page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Final

from fastapi.responses import Response

from callvault.campaigns import service as campaigns
from callvault.campaigns.schemas import CampaignRead
from callvault.campaigns.strategy import Status
from callvault.core.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from callvault.web.console import Console, allowed, console_router, object_id, see_other

router = console_router()
PAGE_SIZE: Final = 50

# Refusals shown on the campaign page; the values are catalog message ids.
REFUSALS: Final = {
    "four-eyes": "Four eyes: someone who did not create or edit this campaign must approve it.",
    "state": "This step is not possible in the campaign's current state.",
}
# What each action needs, as in the API (`campaigns/views.py`).
ACTIONS: Final[dict[str, str]] = {
    "approve": campaigns.APPROVE,
    "start": campaigns.START,
    "pause": campaigns.START,
}


def _status(raw: str) -> Status | None:
    try:
        return Status(raw) if raw else None
    except ValueError:
        return None


@router.get("/campaigns")
def campaigns_page(
    console: Annotated[Console, allowed(campaigns.READ)], status: str = "", cursor: str | None = None
) -> Response:
    wanted = _status(status[:16])
    page = campaigns.list_campaigns(
        console.session, actor=console.principal, limit=PAGE_SIZE, cursor=cursor, status=wanted
    )
    attempts = campaigns.attempt_counts(
        console.session, actor=console.principal, campaign_ids=[c.id for c in page.items]
    )
    return console.render(
        "campaigns.html",
        campaigns=page.items,
        attempts=attempts,
        next_cursor=page.next_cursor,
        statuses=[s.value for s in Status],
        chosen=wanted.value if wanted else "",
    )


@router.get("/campaigns/{campaign_id}")
def campaign_page(campaign_id: str, console: Annotated[Console, allowed(campaigns.READ)]) -> Response:
    shown = campaigns.get_campaign(console.session, actor=console.principal, campaign_id=object_id(campaign_id))
    return _campaign(console, shown)


def _campaign(
    console: Console,
    shown: CampaignRead,
    *,
    refusal: str = "",
    errors: list[FieldError] | None = None,
    status: int = 200,
) -> Response:
    blocked = campaigns.blocked_counts(console.session, actor=console.principal, campaign_id=shown.id)
    attempts = campaigns.attempt_counts(console.session, actor=console.principal, campaign_ids=[shown.id])
    return console.render(
        "campaign.html",
        status=status,
        campaign=shown,
        attempts=attempts[shown.id],
        blocked=blocked,
        refusal=REFUSALS.get(refusal, ""),
        errors=errors or [],
        can={name: console.principal.has(permission) for name, permission in ACTIONS.items()},
    )


def _act(console: Console, campaign_id: str, action: Callable[..., CampaignRead], notice: str) -> Response:
    cid = object_id(campaign_id)
    try:
        action(console.session, actor=console.principal, campaign_id=cid)
    except PermissionDenied:
        # The route already checked the permission: what the action refuses on top is the four-eyes rule.
        return _refused(console, cid, refusal="four-eyes", status=403)
    except Conflict:
        return _refused(console, cid, refusal="state", status=409)
    except InvalidInput as exc:
        return _refused(console, cid, errors=exc.errors, status=422)
    return see_other(f"/console/campaigns/{cid}", notice=notice)


def _refused(
    console: Console,
    campaign_id: uuid.UUID,
    *,
    status: int,
    refusal: str = "",
    errors: list[FieldError] | None = None,
) -> Response:
    console.session.rollback()
    shown = campaigns.get_campaign(console.session, actor=console.principal, campaign_id=campaign_id)
    return _campaign(console, shown, refusal=refusal, errors=errors, status=status)


@router.post("/campaigns/{campaign_id}/approve")
def approve(campaign_id: str, console: Annotated[Console, allowed(campaigns.APPROVE)]) -> Response:
    return _act(console, campaign_id, campaigns.approve_campaign, "approved")


@router.post("/campaigns/{campaign_id}/start")
def start(campaign_id: str, console: Annotated[Console, allowed(campaigns.START)]) -> Response:
    return _act(console, campaign_id, campaigns.start_campaign, "started")


@router.post("/campaigns/{campaign_id}/pause")
def pause(campaign_id: str, console: Annotated[Console, allowed(campaigns.START)]) -> Response:
    return _act(console, campaign_id, campaigns.pause_campaign, "paused")
