"""The demo's load generator: simulated callers and agents that keep the wallboard live.

One background thread plays, for each demo institution, what telephony and the agents' desks would do: callers
arrive at random (Poisson), run the institution's `main` IVR flow on the simulated engine (virtual time, so a
menu takes no wall time), and are handed to the ACD owner with the flow's outcome; the simulated agents log in,
answer their offers after a short ring, talk, end wrap-up with a disposition and now and then take a break. Every
step goes through the same owner and action functions the API uses, so rows, audit records and events are those
of real agents, and the live statistics (`/api/v1/acd/stats`) move as on a real floor.

No phone number is involved: callers are anonymous, and only ids reach the logs and the audit trail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Final

import structlog
from sqlalchemy import select

from callvault.acd import service as acd
from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.campaigns.agents import EngineClock, SimTimebase
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import DomainError
from callvault.core.tenant_context import set_tenant
from callvault.demo_floor import LOAD_AGENT_PREFIX, MAIN_FLOW
from callvault.identity import service as identity
from callvault.identity.models import User
from callvault.ivr import prompts
from callvault.ivr import service as ivr
from callvault.ivr.flow import FlowDocument
from callvault.ivr.handoff import queue_ids
from callvault.ivr.interpreter import Interpreter, Outcome, OutcomeKind
from callvault.security.principal import Principal
from callvault.telephony.sim import Directory, FarEnd, SimEngine
from callvault.tenancy import service as tenancy

log = structlog.get_logger(__name__)

S = AgentState
DISPOSITIONS: Final = ("resolved", "info_given", "follow_up", "transferred_branch")
BREAK_REASON: Final = "break"


@dataclass(frozen=True)
class LoadProfile:
    """How busy the simulated floor is. The default keeps three agents per institution mostly occupied with a
    caller or two waiting now and then: enough for a wallboard to show every state and a service level."""

    calls_per_minute: float = 4.0  # per institution
    ring_seconds: tuple[float, float] = (1.0, 4.0)
    talk_seconds: tuple[float, float] = (20.0, 70.0)
    wrap_up_seconds: tuple[float, float] = (3.0, 10.0)
    patience_seconds: float = 90.0  # mean wait before a caller gives up
    break_probability: float = 0.12  # after a call, the agent takes a break instead of going ready
    break_seconds: tuple[float, float] = (15.0, 45.0)
    demanding_share: float = 0.25  # callers whose issue needs a more skilled agent (call-level skills)
    max_waiting: int = 15  # no new callers beyond this many waiting (a floor nobody staffs stays bounded)
    step_seconds: float = 0.2
    seed: int | None = None


@dataclass
class SimAgent:
    id: uuid.UUID
    actor: Principal
    seen: tuple[str, str | None] = ("", None)  # the (state, call) the current timer belongs to
    due: float | None = None  # when the agent acts next in that state


@dataclass
class Floor:
    owner: TenantOwner
    slug: str
    agents: list[SimAgent]
    flow: FlowDocument | None
    queues: dict[str, uuid.UUID]
    skills: dict[uuid.UUID, str]  # queue id -> the skill it requires
    next_arrival: float
    waiting: dict[uuid.UUID, float] = field(default_factory=dict)  # call id -> when the caller gives up
    keys: tuple[str, ...] = ("1", "2")


class LoadGenerator:
    """Simulated callers and agents for the given institutions, on the owners `owners` (the app's)."""

    def __init__(self, db: Database, owners: AcdOwners, *, slugs: list[str], profile: LoadProfile | None = None):
        self.db, self.owners, self.slugs = db, owners, slugs
        self.profile = profile or LoadProfile()
        self.rng = random.Random(self.profile.seed)  # noqa: S311 - simulated traffic, not secrets
        self.calls_offered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> LoadGenerator:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="demo-load", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (within one step); callers and agents stay where they are in the owner."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            floors = [self._floor(slug) for slug in self.slugs]
            while not self._stop.wait(self.profile.step_seconds):
                now = time.monotonic()
                for floor in floors:
                    try:
                        self._step(floor, now)
                    except Exception:
                        log.exception("demo load step failed", tenant=floor.slug)
        except Exception:
            log.exception("demo load generator stopped")
        finally:
            self._loop.close()
            self._loop = None

    # --- set-up --------------------------------------------------------------------------------------------

    def _floor(self, slug: str) -> Floor:
        with self.db.scoped() as session:
            inst = tenancy.bind(session, slug=slug)
            seats = {a.id: a for a in acd.list_agents(session)}
            users = session.scalars(select(User).where(User.username.startswith(LOAD_AGENT_PREFIX))).all()
            agents = [
                SimAgent(
                    id=u.id,
                    actor=Principal(
                        kind="user",
                        id=u.id,
                        name=u.username,
                        tenant_id=inst.id,
                        tenant_slug=inst.slug,
                        tenant_kind=inst.kind,
                        permissions=identity.effective_permissions(u),
                    ),
                )
                for u in users
                if u.id in seats and u.status == "active"
            ]
            published = ivr.published_flow(session, entry_point=MAIN_FLOW)
            queues = queue_ids(session)
            skills = {q.id: next(iter(q.requirements), "") for q in acd.list_queues(session)}
            tenant_id = inst.id
            session.commit()
        owner = self.owners.of(tenant_id, slug)
        log.info("demo load started", tenant=slug, agents=len(agents), queues=len(queues))
        return Floor(
            owner=owner,
            slug=slug,
            agents=sorted(agents, key=lambda a: a.actor.name),
            flow=published.document if published else None,
            queues=queues,
            skills=skills,
            next_arrival=time.monotonic() + self._gap(),
        )

    def _gap(self) -> float:
        return self.rng.expovariate(self.profile.calls_per_minute / 60.0)

    # --- one step ------------------------------------------------------------------------------------------

    def _step(self, floor: Floor, now: float) -> None:
        while now >= floor.next_arrival:
            floor.next_arrival += self._gap()
            if len(floor.waiting) < self.profile.max_waiting and floor.queues:
                self._arrive(floor, now)
        for call_id, gives_up in list(floor.waiting.items()):
            if now >= gives_up:
                del floor.waiting[call_id]
                floor.owner.abandon(call_id)  # nothing happens if an agent has it by now
        for agent in floor.agents:
            self._agent_step(floor, agent, now)

    def _arrive(self, floor: Floor, now: float) -> None:
        call_id = uuid.uuid4()
        outcome = self._ivr(floor) if floor.flow is not None else None
        if outcome is None or outcome.kind is not OutcomeKind.QUEUED or outcome.queue not in floor.queues:
            # Without a usable flow the caller goes straight to a queue: the floor stays busy either way.
            name = self.rng.choice(sorted(floor.queues))
            queue_id = floor.queues[name]
            floor.owner.enqueue(call_id, queue_id=queue_id, skills=self._call_skills(floor, queue_id))
        else:
            queue_id = floor.queues[outcome.queue]
            skills = {**outcome.skills, **self._call_skills(floor, queue_id)}
            floor.owner.hand_off(dataclasses.replace(outcome, skills=skills), call_id=call_id, queues=floor.queues)
        self.calls_offered += 1
        floor.waiting[call_id] = now + self.rng.expovariate(1.0 / self.profile.patience_seconds)

    def _call_skills(self, floor: Floor, queue_id: uuid.UUID) -> dict[str, int]:
        """Some callers need more than the queue's minimum: only the stronger agents of the queue can take them."""
        skill = floor.skills.get(queue_id, "")
        if skill and self.rng.random() < self.profile.demanding_share:
            return {skill: 5}
        return {}

    def _ivr(self, floor: Floor) -> Outcome | None:
        """The caller runs the main flow on the simulated engine and presses a menu key."""
        assert self._loop is not None and floor.flow is not None
        flow, key = floor.flow, self.rng.choice(floor.keys)

        async def call() -> Outcome:
            sim = SimEngine(directory=Directory(), recordings_dir=self.db.settings.data_dir / "sim-recordings")
            interpreter = Interpreter(
                sim, clock=EngineClock(SimTimebase(sim, clock.now())), prompt_root=prompts.prompt_root(floor.slug)
            )
            caller = FarEnd(digits=FarEnd.presses(key, start=0.5))
            try:

                async def run() -> Outcome:
                    leg = sim.offer_inbound(caller, from_uri="sip:anonymous@pstn", to_uri=f"sip:{MAIN_FLOW}@callvault")
                    await sim.answer(leg)
                    return await interpreter.run(flow, leg)

                return await sim.run(run(), limit=600.0)
            finally:
                await sim.close()

        try:
            return self._loop.run_until_complete(call())
        except Exception:
            log.exception("demo caller's IVR run failed", tenant=floor.slug)
            return None

    def _agent_step(self, floor: Floor, agent: SimAgent, now: float) -> None:
        view = floor.owner.agent_view(agent.id)
        state, call = str(view["state"]), view.get("call_id")
        if (state, call) != agent.seen:
            agent.seen, agent.due = (state, call), self._due(state, now)
        if agent.due is None or now < agent.due:
            return
        agent.due = None
        try:
            self._act(floor, agent, state, uuid.UUID(call) if call else None)
        except DomainError as exc:
            # The caller hung up or the ticker moved the agent meanwhile: the next step sees the new state.
            agent.seen = ("", None)
            log.debug("demo agent step skipped", tenant=floor.slug, state=state, error=type(exc).__name__)

    def _due(self, state: str, now: float) -> float | None:
        p, uniform = self.profile, self.rng.uniform
        delays = {
            S.LOGGED_OUT.value: 0.0,
            S.RINGING.value: uniform(*p.ring_seconds),
            S.TALKING.value: uniform(*p.talk_seconds),
            S.WRAP_UP.value: uniform(*p.wrap_up_seconds),
            S.PAUSED.value: uniform(*p.break_seconds),
        }
        delay = delays.get(state)
        return None if delay is None else now + delay

    def _act(self, floor: Floor, agent: SimAgent, state: str, call_id: uuid.UUID | None) -> None:
        owner = floor.owner
        if state == S.RINGING.value and call_id is not None:
            floor.waiting.pop(call_id, None)
            owner.accept(agent_id=agent.id, call_id=call_id)
        elif state == S.TALKING.value and call_id is not None:
            owner.finish_call(call_id)
        elif state == S.WRAP_UP.value:
            rest = self.rng.random() < self.profile.break_probability
            with self.db.scoped() as session:
                set_tenant(session, owner.tenant_id)
                owner.end_wrap_up(
                    session,
                    actor=agent.actor,
                    agent_id=agent.id,
                    disposition=self.rng.choice(DISPOSITIONS),
                    then=S.PAUSED if rest else S.READY,
                    reason=BREAK_REASON if rest else "",
                )
        elif state in (S.PAUSED.value, S.LOGGED_OUT.value):
            with self.db.scoped() as session:
                set_tenant(session, owner.tenant_id)
                owner.change_state(session, actor=agent.actor, agent_id=agent.id, state=S.READY, reason="")
