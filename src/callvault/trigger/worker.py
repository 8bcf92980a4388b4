"""Places accepted calls on a telephony `Engine` and stores their results.

One pass (`run_once`) first completes the requests a dead worker left (never dialled again), then takes each
accepted request with a conditional update (so concurrent workers never dial one twice), dials, waits for answer,
runs the named published IVR flow with the institution's variables (or hands the answered call to a queue), and
completes the request with its result and webhook in one transaction.

The flow's verdict is its ``result`` variable: a ``set`` node with ``result: verified`` (the callee confirmed,
e.g. pressed 1) or ``result: refused`` (declined). A flow that ends without one gives ``reached``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

import structlog

from callvault.core import clock as wall_clock
from callvault.core.db import Database
from callvault.core.ids import new_id
from callvault.core.tenant_context import set_tenant
from callvault.interactions.recorder import LegClaim, LegClaims, trunk_of
from callvault.interactions.schemas import PartyKind
from callvault.ivr.interpreter import Clock, Interpreter, OutcomeKind
from callvault.telephony.events import CallAnswered, CallEvent, CallHangup, CallId, HangupCause
from callvault.telephony.port import Engine, TelephonyError
from callvault.tenancy import service as tenancy
from callvault.trigger import service
from callvault.trigger.schemas import CallResult
from callvault.trigger.service import CallFacts, ClaimedCall

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Hands an answered call to the named queue of the tenant (the ACD takes it from there).
QueueHandoff = Callable[[uuid.UUID, CallId, str], Awaitable[None]]

_NOT_REACHED = {HangupCause.BUSY, HangupCause.NO_ANSWER, HangupCause.REJECTED, HangupCause.CANCELLED}


@dataclass
class TriggerWorker:
    db: Database
    engine: Engine
    prompt_root: Path
    clock: Clock | None = None  # the engine's clock for the interpreter (virtual on the sim engine)
    ring_timeout: float = 30.0
    max_call_seconds: float = 600.0
    from_uri: str = "sip:callvault@trigger"
    dial_uri: str = "sip:{number}@pstn"
    wall_now: Callable[[], datetime] = wall_clock.now
    queue_handoff: QueueHandoff | None = None
    # The call recorder of the engine: every placed call becomes a call record (and so is rated and billed).
    recorder: LegClaims | None = None
    tenants: list[uuid.UUID] | None = None  # only these institutions (None: all)
    placed: list[uuid.UUID] = field(default_factory=list)  # requests dialled by this worker (for tests, metrics)
    _records: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict, init=False, repr=False)  # request -> record

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ring_timeout + self.max_call_seconds + 60)

    async def run_once(self) -> int:
        """Recover, then place every accepted call of every tenant, one after another; returns calls handled."""
        handled = 0
        for tenant_id in self._tenants():
            recovered = self._in_tenant(tenant_id, service.recover_interrupted)
            if recovered:
                log.warning("trigger requests interrupted by a previous worker completed as failed", count=recovered)
            for request_id in self._in_tenant(tenant_id, service.waiting):
                if await self.execute(tenant_id, request_id):
                    handled += 1
        return handled

    def _tenants(self) -> list[uuid.UUID]:
        if self.tenants is not None:
            return list(self.tenants)
        with self.db.scoped() as session:
            return tenancy.all_tenant_ids(session)

    def _in_tenant(self, tenant_id: uuid.UUID, work: Callable[..., T], **kwargs: object) -> T:
        with self.db.scoped() as session:
            set_tenant(session, tenant_id)
            return work(session, **kwargs)

    async def execute(self, tenant_id: uuid.UUID, request_id: uuid.UUID) -> bool:
        """Place one accepted call; False if it was not ours to place."""
        claimed = self._in_tenant(tenant_id, service.claim, request_id=request_id, lease=self.lease)
        if claimed is None:
            return False
        self.placed.append(request_id)
        try:
            facts = await self._call(claimed)
        except Exception as exc:
            # A defect must not leave the request dialling until its lease ends: report it failed now.
            log.exception("trigger call failed", request=str(request_id))
            facts = CallFacts(CallResult.FAILED, type(exc).__name__, interaction_id=self._records.get(request_id))
        self._records.pop(request_id, None)
        self._in_tenant(tenant_id, service.complete, request_id=request_id, facts=facts)
        log.info("trigger call completed", request=str(request_id), result=facts.result.value, reason=facts.reason)
        return True

    async def _call(self, job: ClaimedCall) -> CallFacts:
        events = self.engine.events()
        dialled_at = wall_clock.now()
        interaction_id: uuid.UUID | None = None
        to_uri = self.dial_uri.format(number=job.e164)
        try:
            call_id = await self.engine.originate(to_uri, self.from_uri, ring_timeout=self.ring_timeout)
            interaction_id = self._record(job, call_id, to_uri)
            cause = await _answer_or_hangup(events, call_id)
        except TelephonyError as exc:
            return CallFacts(
                CallResult.FAILED,
                type(exc).__name__,
                dialled_at=dialled_at,
                ended_at=wall_clock.now(),
                interaction_id=interaction_id,
            )
        finally:
            await cast(AsyncGenerator[CallEvent, None], events).aclose()
        if cause is not None:
            result = CallResult.NOT_REACHED if cause in _NOT_REACHED else CallResult.FAILED
            return CallFacts(
                result, cause.value, dialled_at=dialled_at, ended_at=wall_clock.now(), interaction_id=interaction_id
            )
        answered_at = wall_clock.now()
        facts = await (self._run_flow(job, call_id) if job.flow is not None else self._to_queue(job, call_id))
        facts.dialled_at, facts.answered_at, facts.ended_at = dialled_at, answered_at, wall_clock.now()
        facts.interaction_id = interaction_id
        return facts

    def _record(self, job: ClaimedCall, call_id: CallId, to_uri: str) -> uuid.UUID | None:
        """Attribute the leg just originated to the institution, as the order's call record (its id is chosen
        here, so `complete` stores it with the result in one transaction)."""
        if self.recorder is None:
            return None
        interaction_id = new_id()
        claim = LegClaim(
            job.tenant_id,
            PartyKind.CUSTOMER,
            trunk=trunk_of(to_uri),
            new_interaction_id=interaction_id,
            source="trigger",
            source_id=job.request_id,
            purpose=job.purpose,
        )
        self.recorder.claim(call_id, claim)
        self._records[job.request_id] = interaction_id  # a defect later in the call still completes with it
        return interaction_id

    async def _run_flow(self, job: ClaimedCall, call_id: CallId) -> CallFacts:
        assert job.flow is not None
        interpreter = Interpreter(self.engine, clock=self.clock, prompt_root=self.prompt_root, wall_now=self.wall_now)
        outcome = await interpreter.run(
            job.flow, call_id, caller=job.e164, dialled=self.from_uri, variables=job.variables
        )
        keys = list(outcome.context.digits)
        verdict = str(outcome.context.variables.get("result") or "")
        if outcome.kind is OutcomeKind.FAILED:
            return CallFacts(CallResult.FAILED, outcome.reason or "engine", keypresses=keys)
        if outcome.kind is OutcomeKind.QUEUED and outcome.queue is not None and self.queue_handoff is not None:
            await self.queue_handoff(job.tenant_id, call_id, outcome.queue)
        else:
            await _hang_up(self.engine, call_id)
        if verdict in (CallResult.VERIFIED.value, CallResult.REFUSED.value):
            return CallFacts(CallResult(verdict), outcome.kind.value, keypresses=keys)
        return CallFacts(CallResult.REACHED, outcome.kind.value, keypresses=keys)

    async def _to_queue(self, job: ClaimedCall, call_id: CallId) -> CallFacts:
        assert job.queue is not None
        if self.queue_handoff is None:
            await _hang_up(self.engine, call_id)
            return CallFacts(CallResult.FAILED, "no_queue_handoff")
        await self.queue_handoff(job.tenant_id, call_id, job.queue)
        return CallFacts(CallResult.REACHED, "queued")


async def _answer_or_hangup(events: AsyncIterator[CallEvent], call_id: CallId) -> HangupCause | None:
    """None once the leg is answered; its hangup cause if it ended first."""
    async for event in events:
        if event.call_id != call_id:
            continue
        if isinstance(event, CallAnswered):
            return None
        if isinstance(event, CallHangup):
            return event.cause
    return HangupCause.FAILED  # the engine closed


async def _hang_up(engine: Engine, call_id: CallId) -> None:
    with contextlib.suppress(TelephonyError):  # already gone
        await engine.hangup(call_id)
