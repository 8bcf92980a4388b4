"""Campaign endpoints: campaigns and their life cycle, dial attempts and blocked counts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.campaigns import service
from callvault.campaigns.schemas import AttemptRead, BlockedCounts, CampaignCreate, CampaignRead, CampaignUpdate
from callvault.campaigns.strategy import Status
from callvault.core.schemas import Page

router = domain_router("/campaigns", "campaigns")

Reader = Annotated[RequestContext, Depends(Requires(service.READ))]
Creator = Annotated[RequestContext, Depends(Requires(service.CREATE))]
Approver = Annotated[RequestContext, Depends(Requires(service.APPROVE))]
Starter = Annotated[RequestContext, Depends(Requires(service.START))]


@router.get("", response_model=Page[CampaignRead], summary="List campaigns")
def list_campaigns(
    ctx: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    status_filter: Annotated[Status | None, Query(alias="status", description="only campaigns in this state")] = None,
) -> Page[CampaignRead]:
    return service.list_campaigns(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor, status=status_filter)


@router.post("", response_model=CampaignRead, status_code=status.HTTP_201_CREATED, summary="Create a campaign (draft)")
def create_campaign(data: CampaignCreate, ctx: Creator) -> CampaignRead:
    return service.create_campaign(ctx.session, actor=ctx.principal, data=data)


@router.get("/{campaign_id}", response_model=CampaignRead, summary="Get a campaign")
def get_campaign(campaign_id: uuid.UUID, ctx: Reader) -> CampaignRead:
    return service.get_campaign(ctx.session, actor=ctx.principal, campaign_id=campaign_id)


@router.patch("/{campaign_id}", response_model=CampaignRead, summary="Change a campaign's strategy or limits")
def update_campaign(campaign_id: uuid.UUID, data: CampaignUpdate, ctx: Creator) -> CampaignRead:
    return service.update_campaign(ctx.session, actor=ctx.principal, campaign_id=campaign_id, data=data)


@router.post("/{campaign_id}/approve", response_model=CampaignRead, summary="Approve a draft campaign")
def approve_campaign(campaign_id: uuid.UUID, ctx: Approver) -> CampaignRead:
    return service.approve_campaign(ctx.session, actor=ctx.principal, campaign_id=campaign_id)


@router.post("/{campaign_id}/start", response_model=CampaignRead, summary="Start or resume a campaign")
def start_campaign(campaign_id: uuid.UUID, ctx: Starter) -> CampaignRead:
    return service.start_campaign(ctx.session, actor=ctx.principal, campaign_id=campaign_id)


@router.post("/{campaign_id}/pause", response_model=CampaignRead, summary="Pause a running campaign")
def pause_campaign(campaign_id: uuid.UUID, ctx: Starter) -> CampaignRead:
    return service.pause_campaign(ctx.session, actor=ctx.principal, campaign_id=campaign_id)


@router.post("/{campaign_id}/finish", response_model=CampaignRead, summary="Finish a campaign for good")
def finish_campaign(campaign_id: uuid.UUID, ctx: Starter) -> CampaignRead:
    return service.finish_campaign(ctx.session, actor=ctx.principal, campaign_id=campaign_id)


@router.get("/{campaign_id}/attempts", response_model=Page[AttemptRead], summary="List a campaign's dial attempts")
def list_attempts(campaign_id: uuid.UUID, ctx: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[AttemptRead]:
    return service.list_attempts(ctx.session, actor=ctx.principal, campaign_id=campaign_id, limit=limit, cursor=cursor)


@router.get("/{campaign_id}/blocked", response_model=BlockedCounts, summary="Blocked attempts by reason and day")
def blocked_counts(campaign_id: uuid.UUID, ctx: Reader) -> BlockedCounts:
    return service.blocked_counts(ctx.session, actor=ctx.principal, campaign_id=campaign_id)
