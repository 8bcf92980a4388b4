"""ACD endpoints: queue, pause reason and skill set-up, the agent's own state, supervisors' forced changes, and
live statistics (a snapshot and a wallboard stream of server-sent events)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from callvault.acd import day_report, service
from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.acd.schemas import (
    AcdStats,
    AgentRead,
    AgentSkillsSet,
    AgentStateSet,
    AgentStatus,
    HourFigures,
    MonitorStart,
    MonitorStarted,
    PauseReasonCreate,
    PauseReasonRead,
    QueueCreate,
    QueueDayFigures,
    QueueRead,
    QueueUpdate,
    TodayStats,
    WrapUpEnd,
)
from callvault.api import RequestContext, Requires, domain_router
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.interactions import service as interactions
from callvault.interactions.schemas import InteractionClose
from callvault.security.principal import Principal

log = structlog.get_logger(__name__)
router = domain_router("", "acd")

Configurer = Annotated[RequestContext, Depends(Requires(service.CONFIGURE))]
Agent = Annotated[RequestContext, Depends(Requires(service.HANDLE))]
Supervisor = Annotated[RequestContext, Depends(Requires(service.SUPERVISE))]
Anyone = Annotated[RequestContext, Depends(Requires(None))]
StatsReader = Annotated[RequestContext, Depends(Requires(day_report.READ))]

# How long the request waits for the switchboard to start ringing the supervisor's phone.
MONITOR_RING_SECONDS = 15.0
# Wallboards get at most this many snapshots a second by default, however busy the institution is.
DEFAULT_PUSHES_PER_SECOND = 2.0
KEEPALIVE_SECONDS = 15.0


def owners(request: Request) -> AcdOwners:
    found: AcdOwners = request.app.state.acd
    return found


def owner_of(request: Request, ctx: RequestContext) -> TenantOwner:
    owner = owners(request).for_principal(ctx.principal, session=ctx.session)
    # No transaction may stay open while waiting for the owner's lock: on SQLite it holds the write lock that
    # the owner's current operation needs (a deadlock until the busy timeout).
    if ctx.session.in_transaction():
        ctx.session.commit()
    return owner


# --- configuration -------------------------------------------------------------------------------------------


@router.get("/acd/queues", response_model=list[QueueRead], summary="List queues")
def list_queues(ctx: Configurer) -> list[QueueRead]:
    return service.list_queues(ctx.session)


@router.post("/acd/queues", response_model=QueueRead, status_code=201, summary="Create a queue")
def create_queue(request: Request, ctx: Configurer, data: QueueCreate) -> QueueRead:
    owner = owner_of(request, ctx)
    return owner.run(
        lambda r, _now: service.create_queue(ctx.session, actor=ctx.principal, data=data, router=r), configures=True
    )


@router.patch("/acd/queues/{queue_id}", response_model=QueueRead, summary="Change a queue (waiting callers stay)")
def update_queue(request: Request, queue_id: uuid.UUID, ctx: Configurer, data: QueueUpdate) -> QueueRead:
    owner = owner_of(request, ctx)
    return owner.run(
        lambda r, _now: service.update_queue(ctx.session, actor=ctx.principal, queue_id=queue_id, data=data, router=r),
        configures=True,
    )


@router.get("/acd/pause-reasons", response_model=list[PauseReasonRead], summary="List pause reason codes")
def list_pause_reasons(ctx: Anyone) -> list[PauseReasonRead]:
    return service.list_pause_reasons(ctx.session)


@router.post("/acd/pause-reasons", response_model=PauseReasonRead, status_code=201, summary="Add a pause reason")
def create_pause_reason(request: Request, ctx: Configurer, data: PauseReasonCreate) -> PauseReasonRead:
    owner = owner_of(request, ctx)
    owner.run(
        lambda r, _now: service.create_pause_reason(ctx.session, actor=ctx.principal, data=data, router=r),
        configures=True,
    )
    return PauseReasonRead(code=data.code, label=data.label)


@router.get("/acd/agents", response_model=list[AgentRead], summary="List agent seats with their skills")
def list_agents(ctx: Configurer) -> list[AgentRead]:
    return service.list_agents(ctx.session)


@router.put("/acd/agents/{agent_id}/skills", response_model=AgentRead, summary="Set an agent's skills")
def set_agent_skills(request: Request, agent_id: uuid.UUID, ctx: Configurer, data: AgentSkillsSet) -> AgentRead:
    if not service.is_user(ctx.session, agent_id):
        raise NotFound("no such user")
    owner = owner_of(request, ctx)
    return owner.run(
        lambda r, _now: service.set_agent_skills(
            ctx.session, actor=ctx.principal, agent_id=agent_id, data=data, router=r
        ),
        configures=True,
    )


# --- the agent's own state (declared before /agents/{agent_id}/... so "me" is not taken for an id) -----------


def _status(owner: TenantOwner, agent_id: uuid.UUID) -> AgentStatus:
    return AgentStatus.model_validate(owner.agent_view(agent_id))


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.kind != "user" or principal.id is None:
        raise InvalidInput.one("agent", "only a user has an agent seat")
    return principal.id


@router.get("/agents/me/state", response_model=AgentStatus, summary="My agent state and the call I hold")
def my_state(request: Request, ctx: Agent) -> AgentStatus:
    return _status(owner_of(request, ctx), _user_id(ctx.principal))


@router.post("/agents/me/state", response_model=AgentStatus, summary="Go ready, pause with a reason, or log out")
def set_my_state(request: Request, ctx: Agent, data: AgentStateSet) -> AgentStatus:
    agent_id = _user_id(ctx.principal)
    owner = owner_of(request, ctx)
    owner.change_state(
        ctx.session, actor=ctx.principal, agent_id=agent_id, state=AgentState(data.state), reason=data.reason
    )
    return _status(owner, agent_id)


@router.post("/agents/me/wrap-up", response_model=AgentStatus, summary="End wrap-up with the call's disposition")
def end_my_wrap_up(request: Request, ctx: Agent, data: WrapUpEnd) -> AgentStatus:
    agent_id = _user_id(ctx.principal)
    owner = owner_of(request, ctx)
    owner.end_wrap_up(
        ctx.session,
        actor=ctx.principal,
        agent_id=agent_id,
        disposition=data.disposition,
        then=AgentState(data.then),
        reason=data.reason,
    )
    interaction_id = owner.take_last_interaction(agent_id)
    if interaction_id is not None and data.disposition:
        _file_disposition(ctx, interaction_id, data.disposition)
    return _status(owner, agent_id)


def _file_disposition(ctx: RequestContext, interaction_id: uuid.UUID, disposition: str) -> None:
    """The wrap-up's disposition on the call record too (with the wrap-up time), unless the record was closed
    already (`POST /interactions/{id}/close` with notes) or its last leg has not hung up yet."""
    try:
        interactions.close_interaction(
            ctx.session,
            actor=ctx.principal,
            interaction_id=interaction_id,
            data=InteractionClose(disposition=disposition),
        )
    except (Conflict, NotFound) as exc:
        ctx.session.rollback()
        log.info("wrap-up disposition not filed on the call record", reason=type(exc).__name__)


@router.post("/agents/{agent_id}/state", response_model=AgentStatus, summary="Force an agent's state (supervisor)")
def force_state(
    request: Request, agent_id: uuid.UUID, ctx: Supervisor, data: AgentStateSet | None = None
) -> AgentStatus:
    owner = owner_of(request, ctx)
    # Optional body: another institution's agent answers 404 before a missing body answers 422.
    owner.require_seat(agent_id)
    if data is None:
        raise InvalidInput.one("body", "name the state")
    owner.change_state(
        ctx.session, actor=ctx.principal, agent_id=agent_id, state=AgentState(data.state), reason=data.reason
    )
    return _status(owner, agent_id)


@router.post(
    "/agents/{agent_id}/monitor",
    response_model=MonitorStarted,
    status_code=202,
    summary="Listen to, whisper to or barge into an agent's live call (supervisor, on the supervisor's SIP phone)",
)
def monitor_agent(
    request: Request, agent_id: uuid.UUID, ctx: Supervisor, data: MonitorStart | None = None
) -> MonitorStarted:
    owner = owner_of(request, ctx)
    owner.require_seat(agent_id)  # another institution's agent: 404 before anything else
    if data is None:
        raise InvalidInput.one("body", "name the mode")
    call_id = owner.connected_call(agent_id)
    control = owners(request).control_of(ctx.principal.tenant_id, call_id) if call_id is not None else None
    if call_id is None or control is None or control.loop is None:
        raise NotFound("the agent has no live call carried by telephony here")
    supervisor_id = ctx.principal.id
    assert supervisor_id is not None  # a supervisor is a user
    # Audited before the supervisor's phone rings: an attempt to listen in is itself a sensitive act.
    service.record_monitoring(ctx.session, actor=ctx.principal, agent_id=agent_id, call_id=call_id, mode=data.mode)
    work = control.monitor(
        tenant_id=ctx.principal.tenant_id,
        supervisor_id=supervisor_id,
        agent_id=agent_id,
        call_id=call_id,
        mode=data.mode,
    )
    asyncio.run_coroutine_threadsafe(work, control.loop).result(timeout=MONITOR_RING_SECONDS)
    return MonitorStarted(agent_id=agent_id, call_id=call_id, mode=data.mode)


# --- live statistics -----------------------------------------------------------------------------------------


@router.get("/acd/stats", response_model=AcdStats, summary="Live queue and agent statistics")
def stats(request: Request, ctx: StatsReader) -> AcdStats:
    return AcdStats.model_validate(owner_of(request, ctx).stats())


@router.get("/acd/stats/today", response_model=TodayStats, summary="Today's traffic hour by hour, per queue and total")
def stats_today(
    ctx: StatsReader,
    queue: Annotated[uuid.UUID | None, Query(description="only this queue (its figures are then the total)")] = None,
) -> TodayStats:
    return today_stats(day_report.today(ctx.session, actor=ctx.principal, queue_id=queue))


def today_stats(report: day_report.TodayReport) -> TodayStats:
    """The report as the API returns it (the wallboard's charts read the same shape)."""
    day = report.day
    labels = day.labels()

    def hours(figures: list[day_report.Hour]) -> list[HourFigures]:
        return [
            HourFigures(
                hour=i,
                start=day.hours[i],
                label=labels[i],
                offered=h.offered,
                answered=h.answered,
                abandoned=h.abandoned,
                answered_within_target=h.answered_in_target,
                service_level=h.service_level,
            )
            for i, h in enumerate(figures)
        ]

    return TodayStats(
        day=day.day.isoformat(),
        time_zone=day.zone,
        time_zone_default=day.zone_is_default,
        queues=[
            QueueDayFigures(
                queue_id=q.queue_id, name=q.name, service_level_seconds=q.service_level_seconds, hours=hours(q.hours)
            )
            for q in report.queues
        ],
        total=hours(report.total),
    )


@router.get(
    "/acd/stats/stream",
    summary="Live statistics as server-sent events (wallboards)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`stats` events, one snapshot each"}},
)
def stats_stream(
    request: Request,
    ctx: StatsReader,
    per_second: Annotated[float, Query(gt=0, le=10, description="at most this many snapshots a second")] = (
        DEFAULT_PUSHES_PER_SECOND
    ),
    max_events: Annotated[int | None, Query(ge=1, le=100_000, description="end after this many snapshots")] = None,
) -> StreamingResponse:
    owner = owner_of(request, ctx)
    hub, tenant_id = owners(request).hub, ctx.principal.tenant_id

    async def events() -> AsyncIterator[str]:
        sub = hub.subscribe(tenant_id)
        try:
            sent, interval = 0, 1.0 / per_second
            while True:
                snap = await run_in_threadpool(owner.stats)
                yield f"event: stats\ndata: {json.dumps(snap, separators=(',', ':'))}\n\n"
                sent += 1
                if max_events is not None and sent >= max_events:
                    return
                pushed = time.monotonic()
                while await sub.next(KEEPALIVE_SECONDS) is None:
                    yield ": keepalive\n\n"
                # Changes during the pause are folded into the next snapshot.
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - pushed)))
                sub.drain()
        finally:
            sub.close()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
