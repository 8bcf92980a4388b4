"""Call-record and recording endpoints. Numbers are returned masked; recordings stream with a stated reason."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router, problem
from callvault.core.schemas import Page
from callvault.interactions import recordings, service
from callvault.interactions.recordings import Playback, Purpose, RangeNotSatisfiable
from callvault.interactions.schemas import InteractionClose, InteractionRead, InteractionStatus, InteractionSummary

router = domain_router("", "call records")

Reader = Annotated[RequestContext, Depends(Requires(service.READ))]
Agent = Annotated[RequestContext, Depends(Requires(service.DISPOSE))]
Player = Annotated[RequestContext, Depends(Requires(recordings.PLAY))]
Downloader = Annotated[RequestContext, Depends(Requires(recordings.DOWNLOAD))]
# Optional at the HTTP layer so an unknown id answers 404 before a missing reason answers 422.
Reason = Annotated[str | None, Query(max_length=500, description="why the recording is opened (audited)")]
RangeHeader = Annotated[str | None, Header(alias="Range")]


@router.get("/interactions", response_model=Page[InteractionSummary], summary="List call records")
def list_interactions(
    ctx: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: InteractionStatus | None = None,
    campaign_id: uuid.UUID | None = None,
    phone: Annotated[str | None, Query(max_length=40, description="only calls with this number")] = None,
    offered_from: Annotated[datetime | None, Query(description="offered at or after this time")] = None,
    offered_until: Annotated[datetime | None, Query(description="offered before this time")] = None,
    queue_id: uuid.UUID | None = None,
    disposition: Annotated[str | None, Query(max_length=64, description="only calls closed with it")] = None,
) -> Page[InteractionSummary]:
    return service.list_interactions(
        ctx.session,
        actor=ctx.principal,
        limit=limit,
        cursor=cursor,
        status=status,
        campaign_id=campaign_id,
        phone=phone,
        offered_from=offered_from,
        offered_until=offered_until,
        queue_id=queue_id,
        disposition=disposition,
    )


@router.get("/interactions/{interaction_id}", response_model=InteractionRead, summary="One call record with its legs")
def get_interaction(interaction_id: uuid.UUID, ctx: Reader) -> InteractionRead:
    return service.get_interaction(ctx.session, actor=ctx.principal, interaction_id=interaction_id)


@router.post(
    "/interactions/{interaction_id}/close",
    response_model=InteractionSummary,
    summary="Record the disposition and notes after wrap-up",
)
def close_interaction(
    interaction_id: uuid.UUID, ctx: Agent, data: InteractionClose | None = None
) -> InteractionSummary:
    # The body is optional here so that another institution's id answers 404 before a missing body answers 422.
    return service.close_interaction(ctx.session, actor=ctx.principal, interaction_id=interaction_id, data=data)


def _stream(
    request: Request,
    ctx: RequestContext,
    recording_id: uuid.UUID,
    reason: str | None,
    purpose: Purpose,
    byte_range: str | None,
) -> Response:
    try:
        playback = recordings.open_playback(
            ctx.session,
            actor=ctx.principal,
            recording_id=recording_id,
            reason=reason,
            purpose=purpose,
            byte_range=byte_range,
        )
    except RangeNotSatisfiable as exc:
        return problem(
            request,
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            headers={"Content-Range": f"bytes */{exc.size}"},
        )
    return _response(playback, purpose)


def _response(playback: Playback, purpose: Purpose) -> StreamingResponse:
    disposition = "inline" if purpose is Purpose.PLAY else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{playback.recording_id}.wav"',
        "Cache-Control": "no-store",
        "Accept-Ranges": "bytes",
        "Content-Length": str(playback.length),
    }
    if playback.partial:
        headers["Content-Range"] = f"bytes {playback.first}-{playback.last}/{playback.size}"
    return StreamingResponse(
        playback.chunks(),
        status_code=206 if playback.partial else 200,
        media_type=playback.content_type,
        headers=headers,
    )


@router.get("/recordings/{recording_id}/stream", summary="Play a recording (reason required; audited)")
def stream_recording(
    request: Request, recording_id: uuid.UUID, ctx: Player, reason: Reason = None, range_: RangeHeader = None
) -> Response:
    return _stream(request, ctx, recording_id, reason, Purpose.PLAY, range_)


@router.get("/recordings/{recording_id}/download", summary="Download a recording (reason required; audited as export)")
def download_recording(
    request: Request, recording_id: uuid.UUID, ctx: Downloader, reason: Reason = None, range_: RangeHeader = None
) -> Response:
    return _stream(request, ctx, recording_id, reason, Purpose.DOWNLOAD, range_)
