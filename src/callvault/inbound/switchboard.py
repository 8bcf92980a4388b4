"""The switchboard: carries every inbound call of one telephony engine from the DID to an agent's phone.

For each offered call: the DID (or the SIP front's headers) names the institution and the entry point; the call
is answered; an `ivr:` entry runs the institution's published flow, a `queue:` entry goes straight to that queue;
the caller is handed to the institution's routing owner (`acd/owner.py`) with the IVR path and digits for the
screen pop, and hears the waiting prompt. When the owner offers the call to an agent, the agent's SIP phone
(`sip_endpoints.user_id`) rings; when it answers, the offer is accepted and the two legs are bridged. The ACD's
rules stay the owner's: a phone that does not answer or declines is a ring-no-answer (agent paused, caller back
at the front of the line), an offer withdrawn by the ring timeout stops the phone ringing, a caller hanging up
while waiting or ringing is an abandon (the ringing phone stops), and either side hanging up after the bridge
ends the call for both and puts the agent in wrap-up.

The switchboard also drives the engine's call recorder: every engine event is applied to the records before it
is acted on, in engine order, so a leg's record exists before the switchboard claims the next leg for it.

Calls wait in the owner's memory and on the engine of this process; a process that dies loses both (the owner's
rebuild closes such calls). Only ids reach logs: never a number or a digit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, ParamSpec, Protocol, TypeVar

import structlog

from callvault.acd.hub import Subscription
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.contacts import service as contacts
from callvault.core.db import Database
from callvault.core.errors import Conflict, DomainError, InvalidInput, NotFound
from callvault.core.tenant_context import set_tenant
from callvault.inbound.routes import Route, called_number, route_of, station_of
from callvault.interactions import service as records
from callvault.interactions.recorder import CallRecorder, LegClaim
from callvault.interactions.schemas import PartyKind
from callvault.ivr import prompts
from callvault.ivr import service as ivr
from callvault.ivr.handoff import queue_ids
from callvault.ivr.interpreter import CallContext, Clock, Interpreter, Outcome, OutcomeKind
from callvault.ivr.lookup import LookupClient
from callvault.telephony.events import (
    CallAnswered,
    CallEvent,
    CallHangup,
    CallId,
    CallOffered,
    HangupCause,
)
from callvault.telephony.port import AudioFile, Engine, Prompt, SpeechText, TelephonyError
from callvault.tenancy.actors import SystemActors

log = structlog.get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# The owner's ring timeout withdraws an unanswered offer first; this only bounds a ring whose withdrawal was lost.
RING_BACKSTOP_SECONDS: Final = 120.0
# What a waiting caller hears between prompts when the institution has no `queue_wait.wav` of its own.
WAITING_PROMPT: Final = SpeechText("您的来电正在排队。请稍候。", language="zh")
SORRY_PROMPT: Final = SpeechText("抱歉。暂时无法为您服务。请稍后再拨。", language="zh")
VOICEMAIL_MAX_SECONDS: Final = 120.0
ANNOUNCE_EVERY_SECONDS: Final = 60.0
# Agents' phones show the service, never the customer's number (the desktop shows the masked record).
AGENT_FROM_URI: Final = "sip:callvault@inbound"
MAX_EARLY_EVENTS: Final = 1000

Blocking = Callable[..., Awaitable[Any]]
DialStation = Callable[[str, str], Awaitable[CallId]]  # (institution slug, phone username) -> the agent's leg


def waiting_announcement(place: int, expected_seconds: float) -> str:
    """What a waiting caller is told: how many callers are ahead and the expected wait in whole minutes."""
    ahead = "您是下一位。" if place <= 1 else f"您前面还有{place - 1}位客户。"
    minutes = -(-int(expected_seconds) // 60)
    wait = "预计等待不到一分钟。" if minutes <= 1 else f"预计等待{minutes}分钟。"
    return ahead + wait


async def in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Database and owner work off the event loop that carries the calls."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def inline(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Database and owner work on the loop itself: for the simulated engine in virtual time, where a thread
    would let virtual time run ahead while it works."""
    return fn(*args, **kwargs)


def plain_dialer(engine: Engine) -> DialStation:
    """Phones reached by `agent:<username>` on the engine itself (the simulated engine's directory)."""

    async def dial(_slug: str, username: str) -> CallId:
        return await engine.originate(f"agent:{username}", AGENT_FROM_URI, ring_timeout=RING_BACKSTOP_SECONDS)

    return dial


class FrontEngine(Protocol):
    """An engine that rings agents' phones through the SIP front (the sip engine)."""

    async def originate(
        self, to_uri: str, from_uri: str, *, ring_timeout: float, tenant: str | None = None, trunk: str | None = None
    ) -> CallId: ...


def front_dialer(engine: FrontEngine) -> DialStation:
    """Phones registered at the SIP front, looked up there under the institution's name only."""

    async def dial(slug: str, username: str) -> CallId:
        return await engine.originate(
            f"agent:{username}", AGENT_FROM_URI, ring_timeout=RING_BACKSTOP_SECONDS, tenant=slug
        )

    return dial


@dataclass(eq=False)
class InboundCall:
    leg: CallId
    route: Route
    caller: str = ""  # the caller's number as presented (customer data: never logged)
    acd_id: uuid.UUID = field(default_factory=uuid.uuid4)  # the call's id in the ACD
    owner: TenantOwner | None = None
    in_acd: bool = False  # handed to the owner and not finished there
    agent_leg: CallId | None = None
    agent_id: uuid.UUID | None = None
    connected: bool = False
    gone: bool = False  # the caller's leg ended
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(eq=False)
class Monitoring:
    """A supervisor's phone on an agent's call: `mode` applies once it answers, and may change later."""

    call: InboundCall
    supervisor_id: uuid.UUID
    mode: str
    answered: bool = False


@dataclass
class SwitchboardStats:
    offered: int = 0
    refused: int = 0  # no institution behind the number
    queued: int = 0
    connected: int = 0
    abandoned: int = 0
    rings: int = 0
    ring_failures: int = 0


class Switchboard:
    """Inbound calls of `engine`, routed by the owners `owners` (the app's), recorded by `recorder`."""

    def __init__(
        self,
        engine: Engine,
        db: Database,
        owners: AcdOwners,
        recorder: CallRecorder,
        *,
        dial_station: DialStation | None = None,
        clock: Clock | None = None,
        blocking: Blocking = in_thread,
        prompt_root: Callable[[str], Path] = prompts.prompt_root,
        allow_insecure_lookups: bool = False,
    ) -> None:
        self.engine, self.db, self.owners, self.recorder = engine, db, owners, recorder
        self.dial_station = dial_station or plain_dialer(engine)
        self.clock, self.blocking, self.prompt_root = clock, blocking, prompt_root
        self.allow_insecure_lookups = allow_insecure_lookups
        self.stats = SwitchboardStats()
        self._calls: dict[CallId, InboundCall] = {}  # by the caller's leg
        self._agent_legs: dict[CallId, InboundCall] = {}
        self._by_acd: dict[uuid.UUID, InboundCall] = {}
        self._routes: dict[CallId, Route | None] = {}
        self._listening: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._system_actors = SystemActors(db, name="inbound")
        self._early: dict[CallId, CallEvent] = {}
        self._monitors: dict[CallId, Monitoring] = {}  # supervisors' legs
        self.loop: asyncio.AbstractEventLoop | None = None
        recorder.attribute = self._attribute

    @property
    def agent_legs_up(self) -> int:
        """Agents' phones ringing or talking now."""
        return len(self._agent_legs)

    # --- life cycle ----------------------------------------------------------------------------------------

    async def run(self, events: AsyncIterator[CallEvent] | None = None) -> None:
        """Serve until the engine's event stream ends (the engine closed)."""
        stream = events if events is not None else self.engine.events()
        self.attach()
        try:
            async for event in stream:
                await self.handle(event)
        finally:
            await self.close()

    def attach(self) -> None:
        """Take the agents' call-control commands for the calls carried here (from the loop serving them)."""
        self.loop = asyncio.get_running_loop()
        if self not in self.owners.controls:
            self.owners.controls.append(self)

    async def handle(self, event: CallEvent) -> None:
        """One engine event, in engine order: recorded first, then acted on. Never raises for one call's sake."""
        try:
            if isinstance(event, CallOffered):
                self._routes[event.call_id] = await self.blocking(
                    route_of, self.db, tenant=event.tenant, entry=event.entry, to_uri=event.to_uri
                )
        except Exception:
            log.exception("inbound call could not be routed", call_id=event.call_id)
            self._routes[event.call_id] = None
        await self.blocking(self.recorder.apply, event)
        self._dispatch(event)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.owners.controls.remove(self)
        for task in [*self._tasks, *self._listening.values()]:
            task.cancel()
        for task in [*self._tasks, *self._listening.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listening.clear()

    def _spawn(self, work: Coroutine[Any, Any, Any], *, what: str) -> None:
        # The coroutine itself is the task: one cancelled before it started is closed cleanly.
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._step_done, what=what))

    def _step_done(self, task: asyncio.Task[Any], *, what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("inbound call step failed", step=what, exc_info=task.exception())

    def _attribute(self, offered: CallOffered) -> LegClaim | None:
        """The recorder's attribution of an offered leg (called from `run`, route already resolved)."""
        route = self._routes.get(offered.call_id)
        if route is None:
            return None
        entry = f"{route.entry_kind}:{route.entry}"
        return LegClaim(route.tenant_id, PartyKind.CUSTOMER, entry_point=entry)

    # --- engine events -------------------------------------------------------------------------------------

    def _dispatch(self, event: CallEvent) -> None:
        leg = event.call_id
        if isinstance(event, CallOffered):
            route = self._routes.get(leg)
            call = InboundCall(leg, route, called_number(event.from_uri)) if route is not None else None
            if call is not None:  # known before any later event of the leg is dispatched
                self._calls[leg] = call
            self._spawn(self._serve(event, call), what="serve")
        elif isinstance(event, CallAnswered | CallHangup):
            if isinstance(event, CallHangup):
                self._routes.pop(leg, None)
            if leg in self._monitors:
                self._monitor_event(leg, event)
            elif leg in self._agent_legs:
                self._agent_event(self._agent_legs[leg], event)
            elif leg in self._calls:
                if isinstance(event, CallHangup):
                    self._spawn(self._caller_left(self._calls[leg]), what="caller-left")
            else:
                # Perhaps a phone that answered (or failed) before its originate returned: kept for `_ring`.
                self._early[leg] = event
                while len(self._early) > MAX_EARLY_EVENTS:
                    self._early.pop(next(iter(self._early)))

    def _agent_event(self, call: InboundCall, event: CallEvent) -> None:
        if isinstance(event, CallAnswered):
            self._spawn(self._agent_answered(call, event.call_id), what="connect")
        elif isinstance(event, CallHangup):
            self._agent_legs.pop(event.call_id, None)
            self._spawn(self._agent_left(call, event.call_id, event.cause), what="agent-left")

    # --- the caller ----------------------------------------------------------------------------------------

    async def _serve(self, offered: CallOffered, call: InboundCall | None) -> None:
        self.stats.offered += 1
        if call is None:
            self.stats.refused += 1
            log.info("inbound call to a number of no active institution refused", call_id=offered.call_id)
            with contextlib.suppress(TelephonyError):
                await self.engine.hangup(offered.call_id, HangupCause.FAILED)
            return
        route = call.route
        try:
            await self.engine.answer(call.leg)
            if route.entry_kind == "ivr":
                outcome = await self._ivr(call, offered)
            else:
                outcome = Outcome(OutcomeKind.QUEUED, CallContext(call_id=call.leg, variables={}), queue=route.entry)
            await self._act(call, outcome)
        except TelephonyError:
            log.info("inbound call ended under the switchboard", call_id=call.leg, tenant=route.tenant_slug)

    async def _ivr(self, call: InboundCall, offered: CallOffered) -> Outcome:
        slug = call.route.tenant_slug
        flow, credentials = await self.blocking(self._flow_of, call.route)
        if flow is None:
            log.warning("inbound entry point has no published flow", tenant=slug, entry=call.route.entry)
            return Outcome(OutcomeKind.FAILED, CallContext(call_id=call.leg, variables={}), reason="no_flow")
        flow_id, document = flow
        lookups = (
            LookupClient(credentials, allow_insecure=self.allow_insecure_lookups) if credentials is not None else None
        )
        try:
            interpreter = Interpreter(
                self.engine, clock=self.clock, lookups=lookups, prompt_root=self.prompt_root(slug)
            )
            # The caller's number is available to the flow (an institution look-up keyed on it), never logged.
            caller = called_number(offered.from_uri)
            outcome = await interpreter.run(document, call.leg, caller=caller, dialled=called_number(offered.to_uri))
        finally:
            if lookups is not None:
                await lookups.aclose()
        await self.blocking(self._record_routing, call, outcome, flow_id=flow_id, queue_id=None)
        return outcome

    def _flow_of(self, route: Route) -> tuple[tuple[uuid.UUID, Any] | None, Any]:
        with self.db.scoped() as session:
            set_tenant(session, route.tenant_id)
            published = ivr.published_flow(session, entry_point=route.entry)
            credentials = ivr.lookup_credentials(session)
            session.commit()
        return ((published.flow_id, published.document) if published else None), credentials

    async def _act(self, call: InboundCall, outcome: Outcome) -> None:
        kind = outcome.kind
        if kind in (OutcomeKind.QUEUED, OutcomeKind.CALLBACK):
            await self._queue(call, outcome)
        elif kind is OutcomeKind.TRANSFERRED and outcome.number:
            try:
                await self.engine.transfer(call.leg, to_uri=outcome.number)
            except TelephonyError:
                log.warning("transfer to a number failed", call_id=call.leg, tenant=call.route.tenant_slug)
                await self._apologise_and_end(call)
        elif kind is OutcomeKind.VOICEMAIL:
            await self._voicemail(call)
        elif kind in (OutcomeKind.HUNG_UP, OutcomeKind.FAILED):
            if kind is OutcomeKind.FAILED:
                await self._apologise_and_end(call)
            else:
                await self.engine.hangup(call.leg)

    async def _queue(self, call: InboundCall, outcome: Outcome) -> None:
        route = call.route
        owner, queues = await self.blocking(self._owner_and_queues, route)
        if outcome.queue not in queues:
            log.warning("flow names a queue the institution does not have", tenant=route.tenant_slug)
            await self._apologise_and_end(call)
            return
        call.owner = owner
        self._listen(route.tenant_id)
        self._by_acd[call.acd_id] = call
        interaction_id = self.recorder.interaction_of(call.leg)
        queued_at = self.recorder.wall_clock(self._engine_now())
        contact_id = await self.blocking(self._caller_on_file, call)
        call.in_acd = True
        await self.blocking(
            owner.hand_off,
            outcome,
            call_id=call.acd_id,
            queues=queues,
            interaction_id=interaction_id,
            contact_id=contact_id,
        )
        self.stats.queued += 1
        await self.blocking(
            self._record_routing, call, outcome, flow_id=None, queue_id=queues[outcome.queue], queued_at=queued_at
        )
        if outcome.kind is OutcomeKind.CALLBACK:
            # The caller keeps the place in line and is called back from the agent's desktop; the switchboard
            # has no part in it any more.
            call.gone, call.in_acd = True, False
            self._by_acd.pop(call.acd_id, None)
            await self.engine.hangup(call.leg)
            return
        await self._wait(call)

    def _caller_on_file(self, call: InboundCall) -> uuid.UUID | None:
        """The institution's contact with the caller's number, for the screen pop (shown masked by permission)."""
        if not call.caller:
            return None
        with self.db.scoped() as session:
            set_tenant(session, call.route.tenant_id)
            return contacts.contact_id_by_phone(session, number=call.caller)

    def _owner_and_queues(self, route: Route) -> tuple[TenantOwner, dict[str, uuid.UUID]]:
        owner = self.owners.of(route.tenant_id, route.tenant_slug)
        with self.db.scoped() as session:
            set_tenant(session, route.tenant_id)
            return owner, queue_ids(session)

    async def _wait(self, call: InboundCall) -> None:
        """The caller's place in line and expected wait, then the waiting prompt again and again (the place
        again every `ANNOUNCE_EVERY_SECONDS`), until an agent answers or the caller leaves."""
        try:
            await self._waiting(call)
        except TelephonyError:  # the caller left meanwhile: the hangup event does the rest
            return

    async def _waiting(self, call: InboundCall) -> None:
        prompt = self._waiting_prompt(call.route.tenant_slug)
        announced_at: float | None = None
        while not call.connected and not call.gone:
            now = self._engine_now()
            if call.owner is not None and (announced_at is None or now - announced_at >= ANNOUNCE_EVERY_SECONDS):
                announced_at = now
                place = await self.blocking(call.owner.place_in_line, call.acd_id)
                if place is not None and not call.connected:
                    await self.engine.play(call.leg, SpeechText(waiting_announcement(*place), language="zh"))
                    continue
            await self.engine.play(call.leg, prompt)

    def _waiting_prompt(self, slug: str) -> Prompt:
        own = self.prompt_root(slug) / "queue_wait.wav"
        return AudioFile(own) if own.is_file() else WAITING_PROMPT

    async def _voicemail(self, call: InboundCall) -> None:
        recording = await self.engine.start_recording(call.leg)
        try:
            for _ in range(int(VOICEMAIL_MAX_SECONDS * 2)):
                if call.gone:
                    break
                await self._sleep(0.5)
        finally:
            with contextlib.suppress(TelephonyError):
                await self.engine.stop_recording(recording)
            if not call.gone:
                with contextlib.suppress(TelephonyError):
                    await self.engine.hangup(call.leg)

    async def _sleep(self, seconds: float) -> None:
        if self.clock is not None:
            await self.clock.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    async def _apologise_and_end(self, call: InboundCall) -> None:
        with contextlib.suppress(TelephonyError):
            await self.engine.play(call.leg, SORRY_PROMPT)
        with contextlib.suppress(TelephonyError):
            await self.engine.hangup(call.leg)

    async def _caller_left(self, call: InboundCall) -> None:
        async with call.lock:
            call.gone = True
            owner = call.owner
            if call.connected:
                await self._end_agent_leg(call)
                await self._finish(call)
            elif call.in_acd and owner is not None:
                call.in_acd = False
                self.stats.abandoned += 1
                # The owner withdraws a ringing offer itself; the phone is told below.
                await self.blocking(_quietly, owner.abandon, call.acd_id)
                await self._end_agent_leg(call)
            self._forget(call)

    # --- the agent -----------------------------------------------------------------------------------------

    def _listen(self, tenant_id: uuid.UUID) -> None:
        """Follow the institution's offers (subscribed before the first hand-off, so none is missed)."""
        if tenant_id in self._listening:
            return
        subscription = self.owners.hub.subscribe(tenant_id)
        self._listening[tenant_id] = asyncio.ensure_future(self._offers(subscription))

    async def _offers(self, subscription: Subscription) -> None:
        try:
            while True:
                event = await subscription.next()
                if event is None or event.agent_id is None:
                    continue
                call = (
                    self._by_acd.get(uuid.UUID(str(event.data.get("call_id")))) if event.data.get("call_id") else None
                )
                if call is None:
                    continue
                if event.kind == "offer":
                    self._spawn(self._ring(call, event.agent_id), what="ring")
                elif event.kind == "offer_withdrawn":
                    self._spawn(self._withdrawn(call, event.agent_id), what="withdrawn")
        finally:
            subscription.close()

    async def _ring(self, call: InboundCall, agent_id: uuid.UUID) -> None:
        async with call.lock:
            if call.gone or call.connected or call.agent_leg is not None:
                return
            username = await self.blocking(station_of, self.db, tenant_id=call.route.tenant_id, agent_id=agent_id)
            if username is None:
                # Without a phone the offer stays on the agent's desktop until the ring timeout moves it on.
                log.info("offered agent has no phone", tenant=call.route.tenant_slug, agent_id=str(agent_id))
                return
            self.stats.rings += 1
            try:
                leg = await self.dial_station(call.route.tenant_slug, username)
            except TelephonyError:
                self.stats.ring_failures += 1
                log.warning("agent's phone could not be rung", tenant=call.route.tenant_slug, agent_id=str(agent_id))
                await self._not_answered(call, agent_id)
                return
            call.agent_leg, call.agent_id = leg, agent_id
            self._agent_legs[leg] = call
            claim = LegClaim(call.route.tenant_id, PartyKind.AGENT, with_call=str(call.leg), agent_id=agent_id)
            await self.blocking(self.recorder.claim, leg, claim)
            early = self._early.pop(leg, None)
            if early is not None:
                self._agent_event(call, early)

    async def _agent_answered(self, call: InboundCall, leg: CallId) -> None:
        async with call.lock:
            owner, agent_id = call.owner, call.agent_id
            if call.gone or call.agent_leg != leg or owner is None or agent_id is None:
                await self._hangup(leg)
                return
            try:
                await self.blocking(owner.accept, agent_id=agent_id, call_id=call.acd_id)
            except DomainError:
                # Accepted at the desk already: the phone completes it. Else withdrawn meanwhile (ring timeout):
                # this phone is too late.
                if await self.blocking(owner.connected_call, agent_id) != call.acd_id:
                    await self._end_agent_leg(call)
                    return
            call.connected = True
            try:
                await self.engine.bridge(call.leg, leg)
            except TelephonyError:
                log.warning("caller and agent could not be bridged", call_id=call.leg, tenant=call.route.tenant_slug)
                await self._hangup(call.leg)
                await self._end_agent_leg(call)
                await self._finish(call)
                return
            self.stats.connected += 1

    async def _agent_left(self, call: InboundCall, leg: CallId, cause: HangupCause) -> None:
        async with call.lock:
            if call.agent_leg != leg:
                return
            call.agent_leg = None
            if call.connected:  # the agent hung up: the call is over for the caller too
                await self._hangup(call.leg)
                await self._finish(call)
                return
            if not call.gone and call.in_acd and call.agent_id is not None:
                # Busy, declined, not answered, unreachable: the owner's ring-no-answer rule.
                log.info("agent's phone did not answer", tenant=call.route.tenant_slug, cause=cause.value)
                await self._not_answered(call, call.agent_id)

    async def _not_answered(self, call: InboundCall, agent_id: uuid.UUID) -> None:
        owner = call.owner
        if owner is not None:
            await self.blocking(_quietly, owner.reject, agent_id=agent_id, call_id=call.acd_id)

    async def _withdrawn(self, call: InboundCall, agent_id: uuid.UUID) -> None:
        async with call.lock:
            if not call.connected and call.agent_id == agent_id:
                await self._end_agent_leg(call)

    async def _end_agent_leg(self, call: InboundCall) -> None:
        leg, call.agent_leg = call.agent_leg, None
        if leg is not None:
            self._agent_legs.pop(leg, None)
            await self._hangup(leg)
        for supervisor_leg in [s for s, m in self._monitors.items() if m.call is call]:
            self._monitors.pop(supervisor_leg, None)
            await self._hangup(supervisor_leg)

    async def _finish(self, call: InboundCall) -> None:
        """The talk is over: the owner moves the agent to wrap-up (once); supervisors' phones are hung up."""
        await self._end_agent_leg(call)
        owner = call.owner
        if call.in_acd and owner is not None:
            call.in_acd = False
            await self.blocking(_quietly, owner.finish_call, call.acd_id)
        self._forget(call)

    async def _hangup(self, leg: CallId) -> None:
        with contextlib.suppress(TelephonyError):
            await self.engine.hangup(leg)

    def _forget(self, call: InboundCall) -> None:
        """Drop what the switchboard holds of a call once the caller left and the ACD is done with it."""
        if call.gone:
            self._calls.pop(call.leg, None)
        if not call.in_acd:
            self._by_acd.pop(call.acd_id, None)

    # --- the agent's call control --------------------------------------------------------------------------

    def carries(self, tenant_id: uuid.UUID, call_id: uuid.UUID) -> bool:
        call = self._by_acd.get(call_id)
        return call is not None and call.route.tenant_id == tenant_id

    async def control(
        self,
        *,
        tenant_id: uuid.UUID,
        agent_id: uuid.UUID,
        call_id: uuid.UUID,
        command: str,
        queue_id: uuid.UUID | None = None,
        to_agent: uuid.UUID | None = None,
    ) -> None:
        """The connected agent's command on its call: hold, unhold, hangup, or a blind transfer to a queue or to a
        named agent."""
        call = self._by_acd.get(call_id)
        if call is None or call.route.tenant_id != tenant_id or call.agent_id != agent_id:
            raise NotFound("no such call of this agent")
        async with call.lock:
            if not call.connected or call.gone:
                raise Conflict("the call is not connected")
            try:
                if command == "hold":
                    await self.engine.hold(call.leg, music=self._waiting_prompt(call.route.tenant_slug))
                elif command == "unhold":
                    await self.engine.unhold(call.leg)
                elif command == "hangup":
                    await self.engine.hangup(call.leg)
                elif command == "transfer" and (queue_id is not None or to_agent is not None):
                    await self._transfer(call, queue_id=queue_id, to_agent=to_agent)
                else:
                    raise InvalidInput.one("type", "unknown command; use hold, unhold, hangup or transfer")
            except TelephonyError as exc:
                raise Conflict(f"the call cannot {command} now") from exc

    async def monitor(
        self, *, tenant_id: uuid.UUID, supervisor_id: uuid.UUID, agent_id: uuid.UUID, call_id: uuid.UUID, mode: str
    ) -> None:
        """Ring the supervisor's phone and, once it answers, let it listen to, whisper to or barge into the agent's
        call; a supervisor already on the call changes mode at once."""
        call = self._by_acd.get(call_id)
        if call is None or call.route.tenant_id != tenant_id or call.agent_id != agent_id or not call.connected:
            raise NotFound("the agent has no live call carried here")
        for leg, present in self._monitors.items():
            if present.call is call and present.supervisor_id == supervisor_id:
                present.mode = mode
                if present.answered:
                    await self._apply_monitor(leg, present)
                return
        username = await self.blocking(station_of, self.db, tenant_id=tenant_id, agent_id=supervisor_id)
        if username is None:
            raise Conflict("the supervisor has no SIP phone to listen on")
        try:
            leg = await self.dial_station(call.route.tenant_slug, username)
        except TelephonyError as exc:
            raise Conflict("the supervisor's phone could not be rung") from exc
        watch = Monitoring(call, supervisor_id, mode)
        self._monitors[leg] = watch
        claim = LegClaim(tenant_id, PartyKind.SUPERVISOR, with_call=str(call.leg), agent_id=supervisor_id)
        await self.blocking(self.recorder.claim, leg, claim)
        early = self._early.pop(leg, None)
        if early is not None:
            self._monitor_event(leg, early)

    def _monitor_event(self, leg: CallId, event: CallEvent) -> None:
        watch = self._monitors.get(leg)
        if watch is None:
            return
        if isinstance(event, CallAnswered):
            watch.answered = True
            self._spawn(self._apply_monitor(leg, watch), what="monitor")
        elif isinstance(event, CallHangup):
            self._monitors.pop(leg, None)

    async def _apply_monitor(self, leg: CallId, watch: Monitoring) -> None:
        agent_leg = watch.call.agent_leg
        if agent_leg is None or not watch.call.connected:
            self._monitors.pop(leg, None)
            await self._hangup(leg)
            return
        modes = {"listen": self.engine.listen, "whisper": self.engine.whisper, "barge": self.engine.barge}
        try:
            await modes[watch.mode](leg, agent_leg)
        except TelephonyError:
            log.warning("supervisor could not join the call", call_id=watch.call.leg, mode=watch.mode)
            self._monitors.pop(leg, None)
            await self._hangup(leg)

    async def _transfer(self, call: InboundCall, *, queue_id: uuid.UUID | None, to_agent: uuid.UUID | None) -> None:
        """Blind transfer to a queue, or to a named agent who is ready (not answered there, the caller goes to the
        front of the queue it came through). The agent leaves (to wrap-up); the caller, taken off hold, goes on with
        the same record and screen pop under a new ACD call id."""
        owner = call.owner
        assert owner is not None
        if queue_id is not None and queue_id not in owner.router.queues:
            raise NotFound("no such queue")
        came_through = await self.blocking(owner.queue_of, call.acd_id)
        if to_agent is not None:
            if to_agent == call.agent_id:
                raise Conflict("the call is already yours")
            if to_agent not in owner.router.agents:
                raise NotFound("no such agent seat")
            if came_through is None:
                raise Conflict("the call came through no queue to fall back on")
        info = await self.blocking(owner.call_info, call.acd_id)
        new_id = uuid.uuid4()
        self._by_acd[new_id] = call  # known before the owner's offer event can arrive
        if to_agent is not None:
            assert came_through is not None
            # Offered before the current agent leaves: an agent who is not ready refuses the transfer (409) and
            # the call stays as it was.
            fallback, priority = came_through
            try:
                await self.blocking(
                    owner.offer_to_agent, new_id, agent_id=to_agent, queue_id=fallback, priority=priority, info=info
                )
            except DomainError:
                self._by_acd.pop(new_id, None)
                raise
        old_id = call.acd_id
        await self.blocking(_quietly, owner.finish_call, old_id)
        await self._end_agent_leg(call)
        self._by_acd.pop(old_id, None)
        call.acd_id, call.connected, call.agent_id = new_id, False, None
        with contextlib.suppress(TelephonyError):
            await self.engine.unhold(call.leg)
        if to_agent is None:
            assert queue_id is not None
            await self.blocking(owner.enqueue, new_id, queue_id=queue_id, info=info)
            await self.blocking(
                self._record_routing, call, _NO_OUTCOME, flow_id=None, queue_id=queue_id, queued_at=None
            )
        self._spawn(self._wait(call), what="wait")

    # --- records -------------------------------------------------------------------------------------------

    def _engine_now(self) -> float:
        """The engine's time (virtual on the simulated engine), which the recorder maps to wall time."""
        return self.clock.now() if self.clock is not None else time.monotonic()

    def _record_routing(
        self,
        call: InboundCall,
        outcome: Outcome,
        *,
        flow_id: uuid.UUID | None,
        queue_id: uuid.UUID | None,
        queued_at: datetime | None = None,
    ) -> None:
        interaction_id = self.recorder.interaction_of(call.leg)
        if interaction_id is None:
            return
        with self.db.scoped() as session:
            set_tenant(session, call.route.tenant_id)
            records.record_routing(
                session,
                actor=self._system_actors.of(call.route.tenant_id),
                interaction_id=interaction_id,
                ivr_path=list(outcome.context.path) if flow_id is not None else None,
                flow_id=flow_id,
                queue_id=queue_id,
                queued_at=queued_at,
            )


_NO_OUTCOME: Final = Outcome(OutcomeKind.QUEUED, CallContext(call_id=CallId(""), variables={}))


def _quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """An owner operation on a call that may have moved on meanwhile (answered, withdrawn, abandoned)."""
    try:
        fn(*args, **kwargs)
    except DomainError as exc:
        log.debug("inbound owner operation skipped", error=type(exc).__name__)
