"""ACD queries and action functions: queue and agent configuration, agent state changes, routing batches.

Each action checks permission, writes its rows, the audit record and the outbox event in one transaction.
Configuration reaches the routing owner (when one is given) only after the commit; an agent state change is first
checked by the owner, which alone knows whether the agent was offered a call a moment ago.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from callvault.acd import rebuild
from callvault.acd.agent_state import AgentState, StateChange
from callvault.acd.log_rows import DECISION_LOG, STATE_LOG, LogRows
from callvault.acd.models import AcdAgent, AcdAgentSkill, AcdPauseReason, AcdQueue
from callvault.acd.router import Decision, Offer, Router
from callvault.acd.routing_queue import CallState
from callvault.acd.schemas import (
    AgentRead,
    AgentSkillsSet,
    PauseReasonCreate,
    PauseReasonRead,
    QueueCreate,
    QueueRead,
    QueueUpdate,
)
from callvault.core import outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.core.tenant_context import current_tenant
from callvault.security import audit
from callvault.security.principal import Principal

# Queue and skill set-up needs queue.manage; agents change their own state (agent.handle), supervisors anybody's
# (agent.supervise).
CONFIGURE = "queue.manage"
HANDLE = "agent.handle"
SUPERVISE = "agent.supervise"
CLEARABLE = frozenset({"max_wait_seconds", "max_length", "overflow_queue_id"})
MANUAL_STATES = frozenset({AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT})


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- queries -------------------------------------------------------------------------------------------------


def get_queue(session: Session, *, queue_id: uuid.UUID) -> AcdQueue:
    queue = session.get(AcdQueue, queue_id)
    if queue is None:
        raise NotFound("no such queue")
    return queue


def list_queues(session: Session) -> list[QueueRead]:
    return [QueueRead.model_validate(q) for q in session.scalars(select(AcdQueue).order_by(AcdQueue.name))]


def list_pause_reasons(session: Session) -> list[PauseReasonRead]:
    return [
        PauseReasonRead.model_validate(r) for r in session.scalars(select(AcdPauseReason).order_by(AcdPauseReason.code))
    ]


def is_user(session: Session, user_id: uuid.UUID) -> bool:
    """Whether the id is one of the institution's users (a seat set up through the API must be one)."""
    from callvault.identity.models import User

    return session.get(AcdAgent, user_id) is not None or session.get(User, user_id) is not None


def list_agents(session: Session) -> list[AgentRead]:
    return [agent_read(session, a) for a in session.scalars(select(AcdAgent).order_by(AcdAgent.id))]


def agent_read(session: Session, agent: AcdAgent) -> AgentRead:
    rows = session.scalars(select(AcdAgentSkill).where(AcdAgentSkill.agent_id == agent.id)).all()
    return AgentRead(
        id=agent.id, display_name=agent.display_name, skills={r.skill: r.level for r in rows}, blended=agent.blended
    )


# --- configuration actions -----------------------------------------------------------------------------------


def _check_queue(session: Session, *, requirements: dict[str, int], overflow: str, target: uuid.UUID | None) -> None:
    bad = [s for s, level in requirements.items() if not 1 <= level <= 10]
    if bad:
        raise InvalidInput.one("requirements", f"minimum levels must be 1..10: {', '.join(bad)}")
    if overflow == "queue" and target is None:
        raise InvalidInput.one("overflow_queue_id", "required when overflow is 'queue'")
    if target is not None:
        get_queue(session, queue_id=target)  # a queue of another institution is invisible: NotFound


def create_queue(session: Session, *, actor: Principal, data: QueueCreate, router: Router | None = None) -> QueueRead:
    """Create a queue with its skill requirements, strategy, overflow and service-level target."""
    actor.require(CONFIGURE)
    if session.scalars(select(AcdQueue).where(AcdQueue.name == data.name)).first() is not None:
        raise Conflict("a queue with this name exists")
    _check_queue(session, requirements=data.requirements, overflow=data.overflow, target=data.overflow_queue_id)
    queue = AcdQueue(**data.model_dump())
    session.add(queue)
    session.flush()
    read = QueueRead.model_validate(queue)
    audit.record(session, actor=actor, action="acd.queue.create", object_type="acd_queue", object_id=queue.id)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.queue.created", payload=read.model_dump(mode="json"))
    session.commit()
    if router is not None:
        router.upsert_queue(rebuild.queue_config(queue), now=datetime.now(UTC).timestamp())
    return read


def update_queue(
    session: Session, *, actor: Principal, queue_id: uuid.UUID, data: QueueUpdate, router: Router | None = None
) -> QueueRead:
    """Change a queue; waiting callers keep their place."""
    actor.require(CONFIGURE)
    queue = get_queue(session, queue_id=queue_id)
    # An explicit null clears only the optional limits; for the other fields it means "unchanged".
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None or k in CLEARABLE}
    for name, value in changes.items():
        setattr(queue, name, value)
    _check_queue(session, requirements=queue.requirements, overflow=queue.overflow, target=queue.overflow_queue_id)
    session.flush()
    read = QueueRead.model_validate(queue)
    audit.record(
        session,
        actor=actor,
        action="acd.queue.update",
        object_type="acd_queue",
        object_id=queue.id,
        details={"changed": sorted(changes)},
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.queue.updated", payload=read.model_dump(mode="json"))
    session.commit()
    if router is not None:
        router.upsert_queue(rebuild.queue_config(queue), now=datetime.now(UTC).timestamp())
    return read


def create_pause_reason(
    session: Session, *, actor: Principal, data: PauseReasonCreate, router: Router | None = None
) -> None:
    """Add one of the institution's pause reason codes (lunch, training, coaching...)."""
    actor.require(CONFIGURE)
    if session.scalars(select(AcdPauseReason).where(AcdPauseReason.code == data.code)).first() is not None:
        raise Conflict("this pause reason exists")
    session.add(AcdPauseReason(code=data.code, label=data.label))
    audit.record(session, actor=actor, action="acd.pause_reason.create", details={"code": data.code})
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.pause_reason.created", payload=data.model_dump())
    session.commit()
    if router is not None:
        router.pause_reasons.add(data.code)


def set_agent_skills(
    session: Session, *, actor: Principal, agent_id: uuid.UUID, data: AgentSkillsSet, router: Router | None = None
) -> AgentRead:
    """Register an agent seat or replace its skills (proficiency 1..10) and blended flag."""
    actor.require(CONFIGURE)
    bad = [s for s, level in data.skills.items() if not 1 <= level <= 10]
    if bad:
        raise InvalidInput.one("skills", f"proficiency must be 1..10: {', '.join(bad)}")
    agent = session.get(AcdAgent, agent_id)
    if agent is None:
        agent = AcdAgent(id=agent_id)
        session.add(agent)
    agent.display_name, agent.blended = data.display_name, data.blended
    session.flush()
    session.execute(delete(AcdAgentSkill).where(AcdAgentSkill.agent_id == agent_id))
    session.add_all(AcdAgentSkill(agent_id=agent_id, skill=s, level=lv) for s, lv in data.skills.items())
    session.flush()
    read = AgentRead(id=agent_id, display_name=agent.display_name, skills=dict(data.skills), blended=agent.blended)
    audit.record(
        session,
        actor=actor,
        action="acd.agent.skills_set",
        object_type="acd_agent",
        object_id=agent_id,
        details={"skills": read.skills, "blended": read.blended},
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.agent.updated", payload=read.model_dump(mode="json"))
    session.commit()
    if router is not None:
        router.upsert_agent(agent_id, skills=read.skills, blended=read.blended, now=datetime.now(UTC).timestamp())
    return read


# --- agent state ---------------------------------------------------------------------------------------------


def change_agent_state(
    session: Session,
    *,
    actor: Principal,
    router: Router,
    agent_id: uuid.UUID,
    state: AgentState,
    reason: str = "",
    now: float,
) -> list[Offer]:
    """Log in (ready), pause with a reason code, or log out. Returns the offers made if the agent got a call."""
    actor.require(HANDLE if actor.kind == "user" and actor.id == agent_id else SUPERVISE)
    if state not in MANUAL_STATES:
        raise InvalidInput.one("state", "only ready, paused and logged_out are set by hand")
    if not router.can_change(agent_id, state):
        raise Conflict(
            "the agent cannot change state now (ringing or talking: answer or decline the call first; "
            "in wrap-up: end it)"
        )
    return _log_owner_change(
        session,
        actor=actor,
        router=router,
        agent_id=agent_id,
        apply=lambda: _apply(router, agent_id=agent_id, state=state, reason=reason, now=now),
        details={"state": state.value, "reason": reason},
        now=now,
    )


MONITOR_MODES = frozenset({"listen", "whisper", "barge"})


def record_monitoring(
    session: Session, *, actor: Principal, agent_id: uuid.UUID, call_id: uuid.UUID, mode: str
) -> None:
    """A supervisor listens to, whispers to or barges into an agent's live call: audited before the phone rings."""
    actor.require(SUPERVISE)
    if mode not in MONITOR_MODES:
        raise InvalidInput.one("mode", "listen, whisper or barge")
    details = {"mode": mode, "call_id": str(call_id)}
    audit.record(
        session, actor=actor, action="acd.call.monitor", object_type="agent", object_id=agent_id, details=details
    )
    payload = {"agent_id": str(agent_id), "supervisor_id": str(actor.id) if actor.id else None, **details}
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.call.monitored", payload=payload)
    session.commit()


def end_wrap_up(
    session: Session,
    *,
    actor: Principal,
    router: Router,
    agent_id: uuid.UUID,
    disposition: str,
    then: AgentState = AgentState.READY,
    reason: str = "",
    now: float,
) -> list[Offer]:
    """Close the agent's wrap-up with the call's disposition and go ready (maybe straight into a call), paused or
    logged out."""
    actor.require(HANDLE if actor.kind == "user" and actor.id == agent_id else SUPERVISE)
    return _log_owner_change(
        session,
        actor=actor,
        router=router,
        agent_id=agent_id,
        apply=lambda: router.end_wrap_up(agent_id, disposition=disposition, now=now, then=then, reason=reason),
        details={"state": then.value, "reason": reason, "disposition": disposition},
        now=now,
    )


def _log_owner_change(
    session: Session,
    *,
    actor: Principal,
    router: Router,
    agent_id: uuid.UUID,
    apply: Callable[[], list[Offer]],
    details: dict[str, str],
    now: float,
) -> list[Offer]:
    # The owner decides first, so an illegal move writes nothing; the log row is the one the owner produced, and
    # it is flagged so the batch writer does not write it a second time.
    with router.log_lock:
        pending = len(router.state_changes)
        offers = apply()
        change = router.state_changes[pending]
        change.logged = True
    payload = {"agent_id": str(agent_id), **details, "at": at(now).isoformat()}
    try:
        audit.record(
            session,
            actor=actor,
            action="acd.agent.state_change",
            object_type="acd_agent",
            object_id=agent_id,
            details=details,
        )
        outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.agent.state_changed", payload=payload)
        connection = session.connection()
        rows = LogRows(connection.dialect.name).state_rows(current_tenant(session), [change])
        connection.execute(insert(STATE_LOG), rows)
        session.commit()
    except Exception:
        change.logged = False  # let the batch writer log it if it has not taken it yet
        raise
    return offers


def _apply(router: Router, *, agent_id: uuid.UUID, state: AgentState, reason: str, now: float) -> list[Offer]:
    if state is AgentState.READY:
        return router.agent_ready(agent_id, now=now)
    if state is AgentState.PAUSED:
        router.agent_pause(agent_id, reason=reason, now=now)
    else:
        router.agent_logout(agent_id, now=now)
    return []


# --- routing batches -----------------------------------------------------------------------------------------


def _write_log(
    session: Session, decisions: list[Decision], state_changes: list[StateChange]
) -> tuple[list[dict[str, object]], int]:
    """Insert the decisions and the state changes not logged yet; returns the encoded decision rows and the number
    of rows written."""
    tenant_id = current_tenant(session)
    connection = session.connection()
    rows = LogRows(connection.dialect.name)
    decision_rows = rows.decision_rows(tenant_id, decisions)
    if decision_rows:
        connection.execute(insert(DECISION_LOG), decision_rows)
    unlogged = [c for c in state_changes if not c.logged]
    if unlogged:
        connection.execute(insert(STATE_LOG), rows.state_rows(tenant_id, unlogged))
    return decision_rows, len(decision_rows) + len(unlogged)


def record_routing(
    session: Session, *, actor: Principal, decisions: list[Decision], state_changes: list[StateChange]
) -> int:
    """Write a batch of the owner's routing decisions and agent state changes, with one audit record and one
    `acd.routing.batch` event, in one transaction. Returns the number of rows written."""
    decision_rows, written = _write_log(session, decisions, state_changes)
    first = min([d.seq for d in decisions[:1]] + [c.seq for c in state_changes[:1]], default=0)
    audit.record(
        session,
        actor=actor,
        action="acd.routing.batch",
        details={"decisions": len(decisions), "state_changes": len(state_changes), "first_seq": first},
    )
    # Consoles need who got which call and the agents' new states; compact rows (ids as 32 hex digits, reused
    # from the encoded rows where possible) keep the event cheap at thousands of decisions a second.
    hex_id = LogRows.hex_id
    payload = {
        "first_seq": first,
        "offers": [[hex_id(r["call_id"]), hex_id(r["agent_id"])] for r in decision_rows if r["kind"] == "offered"],
        # `str()` of the StrEnum is its text without the `.value` property call (thousands per batch).
        "agents": [[c.agent_id.hex, str(c.state), c.reason] for c in state_changes],
    }
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.routing.batch", payload=payload)
    session.commit()
    return written


_OPEN_AS = {CallState.WAITING: "waiting", CallState.OFFERED: "ringing", CallState.CONNECTED: "talking"}


def end_interrupted_calls(session: Session, *, actor: Principal, router: Router, now: float) -> dict[str, int]:
    """At a rebuild, close the calls the previous owner left open (`Router.interrupt`: waiting and ringing calls
    abandoned with cause `interrupted`, their agents released, talking agents to wrap-up), writing the decisions and
    state changes, one `acd.calls.interrupted` audit record (counts) and event (ids) in one transaction. Runs before
    the owner serves anything, so the router's logs hold only these entries. Returns the counts."""
    if router.decisions or router.state_changes:
        raise Conflict("the owner has unwritten entries: interrupted calls are closed only at a rebuild")
    calls = sorted(router.calls.values(), key=lambda c: c.seq)
    counts = {"waiting": 0, "ringing": 0, "talking": 0}
    if not calls:
        return counts
    for call in calls:
        counts[_OPEN_AS[call.state]] += 1
        router.interrupt(call.id, now=now)
    decisions, changes = list(router.decisions), list(router.state_changes)
    _write_log(session, decisions, changes)
    audit.record(session, actor=actor, action="acd.calls.interrupted", details=counts)
    payload = {
        "calls": [c.id.hex for c in calls],
        "agents": [[c.agent_id.hex, c.state.value, c.reason] for c in changes],
    }
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="acd.calls.interrupted", payload=payload)
    session.commit()
    router.decisions.clear()
    router.state_changes.clear()
    return counts
