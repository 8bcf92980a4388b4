"""The routing owners living in the app process: one `Router` per institution, built lazily from the database.

Every operation on an institution's router runs under that institution's lock (one decision at a time, as the
router requires), then the decisions and state changes it produced are written through the action functions
(`DecisionWriter` -> `service.record_routing`) and published to the live listeners. A ticker thread applies
the time-driven rules (ring timeout, wrap-up limit, overflow on wait) to every loaded owner.

One app process owns an institution's routing: the logs are keyed by the owner's sequence, so a second process
owning the same institution would collide on the key instead of silently double-booking agents.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

import structlog
from sqlalchemy.orm import Session

from callvault.acd import announcements, service
from callvault.acd.agent_state import AgentState, StateChange
from callvault.acd.decision_log import DecisionWriter
from callvault.acd.hub import AcdEvent, EventHub
from callvault.acd.live_stats import DayStats, capture, render
from callvault.acd.rebuild import load_router
from callvault.acd.router import Offer, Router
from callvault.acd.routing_queue import CallState
from callvault.acd.routing_state import Decision
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import Conflict, NotFound
from callvault.core.tenant_context import set_tenant
from callvault.ivr.handoff import hand_to_acd
from callvault.ivr.interpreter import Outcome
from callvault.security.principal import Principal, system_principal

log = structlog.get_logger(__name__)
# How long a decision may wait in memory before the background thread writes it (ADR 0006: a crash loses at most
# this much of the log).
WRITE_DELAY_SECONDS = 0.05
T = TypeVar("T")
E = TypeVar("E", Decision, StateChange)
# A snapshot is shared by every wallboard of the institution while nothing changed, for at most this long (the
# waits and times in state it shows keep moving).
SNAPSHOT_MAX_AGE_SECONDS = 1.0


CALL_COMMANDS: Final = ("hold", "unhold", "hangup", "transfer")


class CallControl(Protocol):
    """Who carries the media of calls routed here (the inbound switchboard of a telephony engine): the agent's
    call-control commands go to it, on its own event loop."""

    loop: asyncio.AbstractEventLoop | None

    def carries(self, tenant_id: uuid.UUID, call_id: uuid.UUID) -> bool: ...

    async def control(
        self,
        *,
        tenant_id: uuid.UUID,
        agent_id: uuid.UUID,
        call_id: uuid.UUID,
        command: str,
        queue_id: uuid.UUID | None = None,
        to_agent: uuid.UUID | None = None,
    ) -> None: ...

    async def monitor(
        self, *, tenant_id: uuid.UUID, supervisor_id: uuid.UUID, agent_id: uuid.UUID, call_id: uuid.UUID, mode: str
    ) -> None: ...


@dataclass(frozen=True)
class CallInfo:
    """What the ACD knows about a caller for the screen pop (ids only; digits are shown masked)."""

    interaction_id: uuid.UUID | None = None
    ivr_path: tuple[str, ...] = ()
    digits: tuple[str, ...] = ()
    contact_id: uuid.UUID | None = None
    # What the institution's look-up answered in the IVR (e.g. tier, balance): shown to agents who may read
    # customer records, with phone, ID and card numbers masked.
    lookup: tuple[tuple[str, str], ...] = ()


def _since(entries: list[E], mark: int) -> list[E]:
    """The entries with a sequence number above `mark` (they are at the end: sequence numbers only grow)."""
    first = len(entries)
    while first > 0 and entries[first - 1].seq > mark:
        first -= 1
    return entries[first:]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


class TenantOwner:
    """The routing owner of one institution inside the app process."""

    def __init__(
        self,
        db: Database,
        *,
        tenant_id: uuid.UUID,
        tenant_slug: str,
        hub: EventHub,
        session: Session | None = None,
    ) -> None:
        self.tenant_id, self.hub = tenant_id, hub
        self.lock = threading.RLock()
        actor = system_principal(tenant_id=tenant_id, tenant_slug=tenant_slug, tenant_kind="institution", name="acd")
        if session is not None:
            self._load(session, actor)
            session.commit()  # end the read, so the log writer's own session can write
        else:
            with db.scoped() as own:
                set_tenant(own, tenant_id)
                self._load(own, actor)
        self.writer = DecisionWriter(db, router=self.router, tenant_id=tenant_id, tenant_slug=tenant_slug)
        self.calls: dict[uuid.UUID, CallInfo] = {}
        self.last_interaction: dict[uuid.UUID, uuid.UUID] = {}  # agent -> record of its last finished call
        self.background = False  # set while AcdOwners' thread writes the logs
        self.version = 0  # bumped by every operation that changed something
        self._snapshot: tuple[int, float, dict[str, Any]] | None = None

    def _load(self, session: Session, actor: Principal) -> None:
        self.router = load_router(session)
        # The calls the previous owner held died with its process (their media with it): closed before anything
        # is routed, so agents, the log and today's counters agree again (docs/acd.md, "Restart").
        interrupted = service.end_interrupted_calls(session, actor=actor, router=self.router, now=self.now())
        if any(interrupted.values()):
            log.warning("acd rebuild closed interrupted calls", tenant=str(self.tenant_id), **interrupted)
        self.day = DayStats.load(session, self.router, now=clock.now())

    @staticmethod
    def now() -> float:
        return clock.now().timestamp()

    # --- the one way in ------------------------------------------------------------------------------------

    def run(self, operation: Callable[[Router, float], T], *, configures: bool = False) -> T:
        """Apply one operation to the router, persist what it decided and publish the changes. `configures`: the
        operation changes queues, skills or pause reasons, which listeners see even if no decision followed."""
        with self.lock:
            router = self.router
            # Entries are told apart by sequence number: the background writer may drop written ones from the
            # front of the lists meanwhile, so positions are not stable.
            mark = router._next()
            now = self.now()
            failed = True
            try:
                result = operation(router, now)
                failed = False
                return result
            finally:
                decisions = _since(list(router.decisions), mark)
                changes = _since(list(router.state_changes), mark)
                if decisions or changes or (configures and not failed):
                    self.version += 1
                    self.day.roll(clock.now())
                    self.day.apply(router, decisions)
                    events = self._events(decisions, changes)
                    # With the background writer running, the batch is written within its delay (one transaction
                    # for many operations). Without it, now - except after a failure, when the caller's session
                    # may still hold SQLite's write lock: then the next flush takes the batch.
                    if not failed and not self.background:
                        self._flush()
                    self.hub.publish(events)

    def _flush(self) -> None:
        try:
            self.writer.flush()
        except Exception:
            # The decision stands in memory; the batch stays pending and is retried by the next flush.
            log.exception("routing log write failed; retried with the next batch")

    def _events(self, decisions: list[Decision], changes: list[StateChange]) -> list[AcdEvent]:
        tid = self.tenant_id
        events = [
            AcdEvent(
                tid,
                "agent_state",
                c.agent_id,
                {
                    "agent_id": str(c.agent_id),
                    "state": c.state.value,
                    "reason": c.reason,
                    "since": _iso(c.at),
                    "call_id": str(c.call_id) if c.call_id else None,
                },
            )
            for c in changes
        ]
        for d in decisions:
            if d.kind == "offered" and d.agent_id is not None:
                events.append(AcdEvent(tid, "offer", d.agent_id, self._offer_data(d.call_id, d.queue_id, d.at)))
            elif d.kind in ("abandoned", "requeued") and d.agent_id is not None:
                cause = "caller_hung_up" if d.kind == "abandoned" else "not_answered"
                events.append(AcdEvent(tid, "offer_withdrawn", d.agent_id, {"call_id": str(d.call_id), "cause": cause}))
            if d.call_id not in self.router.calls:  # ended, abandoned, or overflowed out of the ACD
                self.calls.pop(d.call_id, None)
        events.append(AcdEvent(tid, "changed"))
        return events

    def _offer_data(self, call_id: uuid.UUID, queue_id: uuid.UUID | None, offered_at: float) -> dict[str, Any]:
        info = self.calls.get(call_id, CallInfo())
        q = self.router.queues.get(queue_id) if queue_id else None
        return {
            "call_id": str(call_id),
            "queue_id": str(queue_id) if queue_id else None,
            "queue": q.config.name if q else None,
            "offered_at": _iso(offered_at),
            "interaction_id": str(info.interaction_id) if info.interaction_id else None,
            "ivr_path": list(info.ivr_path),
            "digits": list(info.digits),
            "contact_id": str(info.contact_id) if info.contact_id else None,
            "lookup": [list(pair) for pair in info.lookup],
        }

    # --- calls (telephony and the IVR hand-off call these) --------------------------------------------------

    def enqueue(
        self,
        call_id: uuid.UUID,
        *,
        queue_id: uuid.UUID,
        priority: int = 0,
        skills: dict[str, int] | None = None,
        info: CallInfo | None = None,
    ) -> list[Offer]:
        """A caller enters a queue; `info` is what the agent's screen pop shows when the call is offered."""

        def enqueue(router: Router, now: float) -> list[Offer]:
            self.calls[call_id] = info or CallInfo()
            try:
                return router.enqueue(call_id, queue_id=queue_id, priority=priority, skills=skills, now=now)
            except Exception:
                self.calls.pop(call_id, None)
                raise

        return self.run(enqueue)

    def offer_to_agent(
        self,
        call_id: uuid.UUID,
        *,
        agent_id: uuid.UUID,
        queue_id: uuid.UUID,
        priority: int = 0,
        info: CallInfo | None = None,
    ) -> list[Offer]:
        """A caller transferred to a named agent (ringing there only; `queue_id` takes the caller if that agent
        does not answer); `info` is the screen pop."""

        def offer(router: Router, now: float) -> list[Offer]:
            self.calls[call_id] = info or CallInfo()
            try:
                return router.offer_to_agent(call_id, agent_id=agent_id, queue_id=queue_id, priority=priority, now=now)
            except Exception:
                self.calls.pop(call_id, None)
                raise

        return self.run(offer)

    def queue_of(self, call_id: uuid.UUID) -> tuple[uuid.UUID, int] | None:
        """The queue a call came through and its priority (what a transfer keeps)."""
        with self.lock:
            call = self.router.calls.get(call_id)
            return (call.queue_id, call.priority) if call is not None and call.queue_id is not None else None

    def hand_off(
        self,
        outcome: Outcome,
        *,
        call_id: uuid.UUID,
        queues: dict[str, uuid.UUID],
        interaction_id: uuid.UUID | None = None,
        contact_id: uuid.UUID | None = None,
    ) -> list[Offer]:
        """Queue a caller the IVR routed to a queue (with the flow's priority and skills), keeping the IVR path
        and collected digits for the screen pop."""
        info = CallInfo(
            interaction_id=interaction_id,
            ivr_path=tuple(outcome.context.path),
            digits=tuple(outcome.context.digits),
            contact_id=contact_id,
            lookup=tuple((str(k), str(v)) for k, v in outcome.context.lookup.items()),
        )

        def hand(router: Router, now: float) -> list[Offer]:
            self.calls[call_id] = info
            try:
                return hand_to_acd(router, outcome, queues=queues, call_id=call_id, now=now)
            finally:
                if call_id not in router.calls:
                    self.calls.pop(call_id, None)

        return self.run(hand)

    def accept(self, *, agent_id: uuid.UUID, call_id: uuid.UUID) -> None:
        """The agent answers the call offered to it (and only that one)."""

        def accept(router: Router, now: float) -> None:
            self._offered_call(router, agent_id, call_id)
            router.accept(call_id, now=now)

        self.run(accept)

    def reject(self, *, agent_id: uuid.UUID, call_id: uuid.UUID) -> list[Offer]:
        """The agent declines the offer: treated as ring-no-answer (agent paused, caller back in front)."""

        def reject(router: Router, now: float) -> list[Offer]:
            self._offered_call(router, agent_id, call_id)
            return router.ring_no_answer(call_id, now=now)

        return self.run(reject)

    @staticmethod
    def _offered_call(router: Router, agent_id: uuid.UUID, call_id: uuid.UUID) -> None:
        call = router.calls.get(call_id)
        if call is None or call.agent is None or call.agent.id != agent_id:
            raise NotFound("no such call offered to this agent")
        if call.state is not CallState.OFFERED:
            raise Conflict("the call is not ringing at this agent")

    def abandon(self, call_id: uuid.UUID) -> list[Offer]:
        return self.run(lambda router, now: router.abandon(call_id, now=now))

    def connected_call(self, agent_id: uuid.UUID) -> uuid.UUID | None:
        """The call the agent is talking on, if any."""
        with self.lock:
            agent = self.router.agents.get(agent_id)
            call = agent.call if agent is not None else None
            return call.id if call is not None and agent is not None and agent.state is AgentState.TALKING else None

    def call_info(self, call_id: uuid.UUID) -> CallInfo | None:
        """What the screen pop shows of a call (kept when a transfer queues the caller again)."""
        with self.lock:
            return self.calls.get(call_id)

    def place_in_line(self, call_id: uuid.UUID) -> tuple[int, float] | None:
        """A waiting caller's 1-based place in its queue and the expected wait in seconds (what the caller is
        told); None once the call is no longer waiting."""
        with self.lock:
            try:
                return (
                    announcements.position(self.router, call_id=call_id),
                    announcements.estimated_wait(self.router, call_id=call_id),
                )
            except (NotFound, Conflict):
                return None

    def finish_call(self, call_id: uuid.UUID) -> None:
        def finish(router: Router, now: float) -> None:
            call = router.calls.get(call_id)
            info = self.calls.get(call_id)
            router.finish_call(call_id, now=now)
            if call is not None and call.agent is not None and info is not None and info.interaction_id is not None:
                self.last_interaction[call.agent.id] = info.interaction_id

        self.run(finish)

    def take_last_interaction(self, agent_id: uuid.UUID) -> uuid.UUID | None:
        """The call record of the agent's last finished call, once (its wrap-up files the disposition there)."""
        with self.lock:
            return self.last_interaction.pop(agent_id, None)

    def tick(self) -> list[Offer]:
        return self.run(lambda router, now: router.tick(now=now))

    # --- agents ---------------------------------------------------------------------------------------------

    def change_state(
        self, session: Session, *, actor: Principal, agent_id: uuid.UUID, state: AgentState, reason: str
    ) -> None:
        self.require_seat(agent_id)
        self.run(
            lambda router, now: service.change_agent_state(
                session, actor=actor, router=router, agent_id=agent_id, state=state, reason=reason, now=now
            )
        )

    def end_wrap_up(
        self,
        session: Session,
        *,
        actor: Principal,
        agent_id: uuid.UUID,
        disposition: str,
        then: AgentState,
        reason: str,
    ) -> None:
        self.require_seat(agent_id)
        self.run(
            lambda router, now: service.end_wrap_up(
                session,
                actor=actor,
                router=router,
                agent_id=agent_id,
                disposition=disposition,
                then=then,
                reason=reason,
                now=now,
            )
        )

    def require_seat(self, agent_id: uuid.UUID) -> None:
        if agent_id not in self.router.agents:
            raise NotFound("no such agent seat")

    def agent_view(self, agent_id: uuid.UUID) -> dict[str, Any]:
        """The agent's state and the call it holds, as the desktop shows them."""
        with self.lock:
            agent = self.router.agents.get(agent_id)
            if agent is None:
                return {"agent_id": str(agent_id), "seat": False, "state": AgentState.LOGGED_OUT.value}
            call = agent.call
            return {
                "agent_id": str(agent_id),
                "seat": True,
                "state": agent.state.value,
                "reason": agent.reason,
                "since": _iso(agent.since) if agent.since else None,
                "call_id": str(call.id) if call else None,
                "offer": self._offer_data(call.id, call.queue_id, call.offered_at)
                if call is not None and call.state is CallState.OFFERED
                else None,
            }

    def stats(self) -> dict[str, Any]:
        """The live statistics; computed once for all listeners while nothing changed (at most 1 s old). Only the
        raw figures are taken under the lock: routing does not wait for the formatting of a large floor."""
        with self.lock:
            now = self.now()
            cached = self._snapshot
            if cached is not None and cached[0] == self.version and 0 <= now - cached[1] < SNAPSHOT_MAX_AGE_SECONDS:
                return cached[2]
            self.day.roll(clock.now())
            version, raw = self.version, capture(self.router, self.day, now=now)
        fresh = render(raw)
        with self.lock:
            self._snapshot = (version, now, fresh)
        return fresh


class AcdOwners:
    """The routing owners of every institution this process serves, created on first use."""

    def __init__(self, db: Database, *, tick_seconds: float = 1.0, session_check_seconds: float = 30.0) -> None:
        self.db, self.hub, self.tick_seconds = db, EventHub(), tick_seconds
        # How often an open agent desktop channel re-checks its session (logout, timeout, disabled user).
        self.session_check_seconds = session_check_seconds
        self._owners: dict[uuid.UUID, TenantOwner] = {}
        self._lock = threading.Lock()
        # The switchboards carrying this process's calls (registered while they run).
        self.controls: list[CallControl] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def of(self, tenant_id: uuid.UUID, tenant_slug: str, *, session: Session | None = None) -> TenantOwner:
        """The institution's owner, built on first use. A caller holding a session bound to the institution
        passes it: the owner is then read through it (and its transaction ended), since on SQLite a second session
        of the same thread would wait for the first one's write lock."""
        owner = self._owners.get(tenant_id)
        if owner is None:
            with self._lock:
                owner = self._owners.get(tenant_id)
                if owner is None:
                    owner = TenantOwner(
                        self.db, tenant_id=tenant_id, tenant_slug=tenant_slug, hub=self.hub, session=session
                    )
                    owner.background = self._thread is not None
                    self._owners[tenant_id] = owner
        return owner

    def control_of(self, tenant_id: uuid.UUID, call_id: uuid.UUID) -> CallControl | None:
        """The switchboard carrying this call, if one in this process does."""
        return next((c for c in list(self.controls) if c.carries(tenant_id, call_id)), None)

    def health(self) -> tuple[int, int]:
        """Institutions routed by this process and routing log entries not written yet (the operator's health
        panel: a growing backlog means the database is not keeping up)."""
        with self._lock:
            owners = list(self._owners.values())
        return len(owners), sum(o.writer.pending() for o in owners)

    def for_principal(self, principal: Principal, *, session: Session | None = None) -> TenantOwner:
        return self.of(principal.tenant_id, principal.tenant_slug, session=session)

    def start(self) -> None:
        """Write the logs of every loaded owner in batches (every `WRITE_DELAY_SECONDS`) and apply the time-driven
        rules every `tick_seconds`, in one background thread for all institutions."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._background, name="acd-owners", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after writing what is pending."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for owner in list(self._owners.values()):
            owner.background = False
            owner._flush()

    def _background(self) -> None:
        last_tick = time.monotonic()
        while not self._stop.wait(WRITE_DELAY_SECONDS):
            ticking = self.tick_seconds > 0 and time.monotonic() - last_tick >= self.tick_seconds
            if ticking:
                last_tick = time.monotonic()
            for owner in list(self._owners.values()):
                owner.background = True
                try:
                    if ticking:
                        owner.tick()
                    owner._flush()
                except Exception:
                    log.exception("acd background work failed", tenant=str(owner.tenant_id))
