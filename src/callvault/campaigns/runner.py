"""The campaign runner: one loop per institution that dials its running campaigns on the telephony engine.

Every tick, for each running campaign: apply hard stops (end date, budgets), ask the campaign's pacing policy how
many to dial (the same policy objects `callvault bench dialer` measures) given the live agents, dials still ringing
and the free lines, then take due contacts in priority order. A contact is dialled only if the destination rules,
the calling window, the daily attempt budgets and the do-not-annoy rules (`dnc.policy.call_permitted`) allow it;
otherwise the attempt is counted as blocked with its reason and the contact is rescheduled or closed.

Crash safety: the attempt row is committed (state ``planned``) before originate, and updated when the engine
confirms (``dialing``), on answer and at the end. `reconcile` closes rows a previous process left open as
``interrupted`` (answered ones as answered), so after a restart no attempt is lost and none is dialled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import numpy as np
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.campaigns import service
from callvault.campaigns.agents import AgentlessHandler, AgentPool, EngineClock, FlowHandler, Timebase
from callvault.campaigns.gate import ContactGate, close, next_phone
from callvault.campaigns.models import Campaign, CampaignBlockedCount, CampaignContact, DialAttempt
from callvault.campaigns.strategy import (
    DialingMode,
    InstitutionLimits,
    Outcome,
    RetryDecision,
    Status,
    after_attempt,
    retry_rules,
)
from callvault.contacts import service as contacts
from callvault.core.db import Database
from callvault.core.ids import new_id
from callvault.dialer.compliance import AbandonLedger, CompliancePacing
from callvault.dialer.models import (
    CallHandled,
    DialOutcome,
    DialResolved,
    LiveAnswerAbandoned,
    PacingObservation,
)
from callvault.dialer.policies import PacingPolicy, ProgressivePolicy
from callvault.dialer.predictive import CallVaultPolicy, PredictiveConfig
from callvault.dnc.policy import (
    DEFAULT_RULES,
    AnnoyanceRules,
)
from callvault.interactions.recorder import LegClaim, LegClaims, trunk_of
from callvault.interactions.schemas import PartyKind
from callvault.ivr import prompts
from callvault.ivr import service as ivr
from callvault.ivr.interpreter import Interpreter
from callvault.security.principal import Principal, system_principal
from callvault.telephony.events import CallAnswered, CallEvent, CallHangup, CallId, HangupCause
from callvault.telephony.port import Engine, SpeechText, TelephonyError
from callvault.tenancy import service as tenancy

log = structlog.get_logger(__name__)

OPEN_STATES: Final = ("planned", "dialing")
_LAST: Final = 1e15  # priority rank of contacts without a usable priority value
_CAUSE_OUTCOME: Final = {
    HangupCause.BUSY: Outcome.BUSY,
    HangupCause.NO_ANSWER: Outcome.NO_ANSWER,
    HangupCause.CANCELLED: Outcome.NO_ANSWER,
    HangupCause.REJECTED: Outcome.REJECTED,
}
_PACING_OUTCOME: Final = {
    Outcome.BUSY: DialOutcome.BUSY,
    Outcome.NO_ANSWER: DialOutcome.NO_ANSWER,
    Outcome.MACHINE: DialOutcome.MACHINE,
}


@dataclass(frozen=True)
class RunnerConfig:
    tick_s: float = 1.0
    ring_timeout_s: float = 30.0
    grace_s: float = 2.0  # a live answer not connected to an agent within this is abandoned
    agent_poll_s: float = 0.25
    uri_template: str = "sip:{number}@pstn"
    caller_uri_template: str = "sip:{number}@pstn"
    idle_max_s: float = 30.0  # longest sleep while nothing is due (a newly started campaign waits at most this)
    materialise_batch: int = 500
    rules: AnnoyanceRules = DEFAULT_RULES
    abandon_message: str = "您好。这里是您的银行。我们稍后再与您联系。"


@dataclass
class _Dial:
    attempt_id: uuid.UUID
    campaign_id: uuid.UUID
    started_s: float
    purpose: str = ""
    flow_id: uuid.UUID | None = None
    answered: bool = False
    waiting_since: float | None = None  # answered, waiting for an agent


@dataclass
class _CallTrack:
    first: asyncio.Future[CallEvent]
    ended: asyncio.Future[CallHangup]


@dataclass
class CampaignStats:
    """What the runner did for one campaign in this process (tests and the CLI read it)."""

    dials: int = 0
    max_outstanding: int = 0
    live: int = 0
    abandoned: int = 0
    over_idle: int = 0  # decisions that dialled more than idle agents minus outstanding (progressive: always 0)
    blocked: dict[str, int] = field(default_factory=dict)


@dataclass
class _CampaignState:
    policy: PacingPolicy
    ledger: AbandonLedger
    stats: CampaignStats


class CampaignRunner:
    """Runs one institution's campaigns. `agents(campaign_id)` gives the campaign's agents; `agentless(campaign)`
    the handler answered calls of agentless campaigns run (keypress capture, an IVR flow)."""

    def __init__(
        self,
        db: Database,
        *,
        tenant_slug: str,
        engine: Engine,
        timebase: Timebase,
        agents: Callable[[uuid.UUID], AgentPool | None],
        agentless: Callable[[uuid.UUID], AgentlessHandler] | None = None,
        config: RunnerConfig | None = None,
        recorder: LegClaims | None = None,
    ) -> None:
        self.db = db
        # The engine's call recorder: every dial becomes a call record (so it is rated and billed).
        self.recorder = recorder
        self.engine = engine
        self.timebase = timebase
        self.agents = agents
        self.agentless = agentless
        self.config = config or RunnerConfig()
        self.session: Session = db.session()
        tenant = tenancy.bind(self.session, slug=tenant_slug)
        self.actor: Principal = system_principal(
            tenant_id=tenant.id, tenant_slug=tenant.slug, tenant_kind=tenant.kind, name="campaign-runner"
        )
        self.session.commit()
        self.campaigns: dict[uuid.UUID, _CampaignState] = {}
        self._dials: dict[uuid.UUID, _Dial] = {}
        self._tracks: dict[CallId, _CallTrack] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._flows: dict[uuid.UUID, AgentlessHandler | None] = {}
        self._events = engine.events()

    # --- life of the loop ------------------------------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    async def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Reconcile, then tick until `until()` holds (or no campaign is running and no call is open)."""
        self.reconcile()
        consumer = asyncio.ensure_future(self._consume())
        try:
            while True:
                self.tick()
                if until is not None and until():
                    break
                if until is None and not self._dials and not self._running_ids():
                    break
                await self.timebase.sleep(self._pause_s())
            while self._tasks:
                await asyncio.gather(*list(self._tasks))
        finally:
            consumer.cancel()
            for task in list(self._tasks):
                task.cancel()

    def _pause_s(self) -> float:
        """A tick's length; with no call open and nothing due, sleep until the next contact is due (capped)."""
        if self._dials:
            return self.config.tick_s
        now = self.timebase.now()
        next_due = self.session.scalar(
            select(func.min(CampaignContact.next_due_at))
            .join(Campaign, Campaign.id == CampaignContact.campaign_id)
            .where(Campaign.status == Status.RUNNING.value, CampaignContact.state == "pending")
        )
        self.session.commit()
        if next_due is None:
            return max(self.config.tick_s, self.config.idle_max_s)
        if next_due <= now:
            return self.config.tick_s
        return max(self.config.tick_s, min(self.config.idle_max_s, (next_due - now).total_seconds()))

    def stats(self, campaign_id: uuid.UUID) -> CampaignStats:
        return self._state_for(campaign_id, DialingMode.PROGRESSIVE.value).stats

    def reconcile(self) -> int:
        """Close the attempts a stopped process left open. Answered ones stay answered (the customer was
        reached); the others end ``interrupted`` and their contact is due again after the failed-retry interval."""
        s = self.session
        now = self.timebase.now()
        open_rows = s.scalars(select(DialAttempt).where(DialAttempt.state.in_(OPEN_STATES))).all()
        for attempt in open_rows:
            outcome = Outcome.ANSWERED if attempt.answered_at is not None else Outcome.INTERRUPTED
            cc = s.get(CampaignContact, attempt.campaign_contact_id)
            campaign = s.get(Campaign, attempt.campaign_id)
            attempt.state = "interrupted"
            attempt.outcome = outcome.value
            attempt.ended_at = now
            if cc is not None and campaign is not None:
                self._schedule(campaign, cc, outcome, now)
        stuck = s.scalars(select(CampaignContact).where(CampaignContact.state == "dialing")).all()
        for cc in stuck:
            if not any(a.campaign_contact_id == cc.id for a in open_rows):
                cc.state = "pending"
        s.commit()
        if open_rows:
            log.info("campaign runner reconciled open attempts", count=len(open_rows))
        return len(open_rows)

    # --- engine events ---------------------------------------------------------------------------------------

    def _track(self, call_id: CallId) -> _CallTrack:
        track = self._tracks.get(call_id)
        if track is None:
            loop = asyncio.get_running_loop()
            track = _CallTrack(loop.create_future(), loop.create_future())
            self._tracks[call_id] = track
        return track

    async def _consume(self) -> None:
        async for event in self._events:
            if isinstance(event, CallAnswered | CallHangup):
                track = self._track(event.call_id)
                if not track.first.done():
                    track.first.set_result(event)
                if isinstance(event, CallHangup) and not track.ended.done():
                    track.ended.set_result(event)

    # --- one tick --------------------------------------------------------------------------------------------

    def _running_ids(self) -> list[uuid.UUID]:
        ids = list(self.session.scalars(select(Campaign.id).where(Campaign.status == Status.RUNNING.value)))
        self.session.commit()
        return ids

    def tick(self) -> None:
        # The runner's session lives long: see what people changed since (pause, limits, institution settings).
        self.session.expire_all()
        for campaign_id in self._running_ids():
            try:
                self._tick_campaign(campaign_id)
            except Exception:
                self.session.rollback()
                log.exception("campaign tick failed", campaign_id=str(campaign_id))

    def _state_for(self, campaign_id: uuid.UUID, mode: str) -> _CampaignState:
        state = self.campaigns.get(campaign_id)
        if state is None:
            ledger = AbandonLedger()
            policy: PacingPolicy
            if mode == DialingMode.PREDICTIVE.value:
                policy = CompliancePacing(CallVaultPolicy(PredictiveConfig(grace_s=self.config.grace_s)), ledger)
            else:
                policy = ProgressivePolicy()
            state = _CampaignState(policy, ledger, CampaignStats())
            self.campaigns[campaign_id] = state
        return state

    def _tick_campaign(self, campaign_id: uuid.UUID) -> None:
        s = self.session
        campaign = s.get(Campaign, campaign_id)
        if campaign is None or campaign.status != Status.RUNNING.value:
            s.commit()
            return
        now = self.timebase.now()
        if not campaign.materialised:
            self._materialise(campaign)
        if campaign.starts_at is not None and now < campaign.starts_at:
            s.commit()
            return
        if self._stopped(campaign, now):
            s.commit()
            return
        state = self._state_for(campaign.id, campaign.dialing_mode)
        wanted = self._wanted(campaign, state)
        if wanted > 0:
            self._place(campaign, state, wanted, now)
        s.commit()

    def _stopped(self, campaign: Campaign, now: datetime) -> bool:
        """Hard stops: the end date, spent budgets, nothing left to dial."""
        s = self.session
        open_here = any(d.campaign_id == campaign.id for d in self._dials.values())
        if campaign.ends_at is not None and now >= campaign.ends_at:
            # No new dial after the end date; finished once the calls in progress are over.
            if not open_here:
                service.complete(s, actor=self.actor, campaign=campaign, reason="end_date")
            return True
        limits = service.limits_of(s)
        usage = service.budget_usage(campaign)
        usage |= service.institution_usage(s, limits=limits, month_start=_month_start(now))
        exhausted = sorted(name for name, used in usage.items() if used >= 1.0)
        if exhausted:
            service.hard_stop(s, actor=self.actor, campaign=campaign, budget=exhausted[0])
            return True
        remaining = s.scalar(
            select(func.count()).where(
                CampaignContact.campaign_id == campaign.id, CampaignContact.state.in_(("pending", "dialing"))
            )
        )
        if not remaining and not open_here:
            service.complete(s, actor=self.actor, campaign=campaign, reason="list_done")
            return True
        return False

    def _lines_free(self, campaign: Campaign, limits: InstitutionLimits) -> int:
        here = sum(1 for d in self._dials.values() if d.campaign_id == campaign.id)
        free = campaign.max_lines - here
        if limits.max_lines is not None:
            free = min(free, limits.max_lines - len(self._dials))
        return max(0, free)

    def _wanted(self, campaign: Campaign, state: _CampaignState) -> int:
        limits = service.limits_of(self.session)
        free = self._lines_free(campaign, limits)
        if campaign.dialing_mode == DialingMode.AGENTLESS.value:
            return free
        if campaign.dialing_mode == DialingMode.PREVIEW.value:
            return 0  # preview dials are asked for by an agent at the desktop, one contact at a time
        pool = self.agents(campaign.id)
        if pool is None:
            return 0
        now_s = self.timebase.seconds()
        mine = [d for d in self._dials.values() if d.campaign_id == campaign.id]
        obs = PacingObservation(
            now_s=now_s,
            agents=pool.states(now_s),
            ringing_elapsed_s=np.array([now_s - d.started_s for d in mine if not d.answered], dtype=np.float64),
            queued_wait_s=np.array(
                [now_s - d.waiting_since for d in mine if d.waiting_since is not None], dtype=np.float64
            ),
            free_trunk_lines=free,
        )
        n = min(state.policy.decide(obs), free)
        if n > obs.agents.idle - obs.outstanding - obs.queued:
            state.stats.over_idle += 1 if n > 0 else 0
        return max(0, n)

    # --- choosing and checking contacts ----------------------------------------------------------------------

    def _materialise(self, campaign: Campaign) -> None:
        """Put every contact of the list into the campaign, with its priority (once, at the first tick)."""
        s = self.session
        after: uuid.UUID | None = None
        now = self.timebase.now()
        while True:
            page = contacts.contact_page(s, list_id=campaign.list_id, after=after, limit=self.config.materialise_batch)
            if not page:
                break
            existing = set(
                s.scalars(
                    select(CampaignContact.contact_id).where(
                        CampaignContact.campaign_id == campaign.id,
                        CampaignContact.contact_id.in_([cid for cid, _ in page]),
                    )
                )
            )
            s.add_all(
                CampaignContact(
                    campaign_id=campaign.id,
                    contact_id=cid,
                    next_due_at=now,
                    priority_rank=_rank(campaign, custom),
                    outcome_counts={},
                    created_at=now,
                )
                for cid, custom in page
                if cid not in existing
            )
            s.flush()
            after = page[-1][0]
        campaign.materialised = True
        s.commit()

    def _block(self, campaign: Campaign, reason: str, now: datetime) -> None:
        s = self.session
        day = now.astimezone(UTC).date().isoformat()
        row = s.get(CampaignBlockedCount, (campaign.id, day, reason))
        if row is None:
            row = CampaignBlockedCount(campaign_id=campaign.id, day=day, reason=reason, count=0)
            s.add(row)
        row.count += 1
        stats = self._state_for(campaign.id, campaign.dialing_mode).stats
        stats.blocked[reason] = stats.blocked.get(reason, 0) + 1

    def _place(self, campaign: Campaign, state: _CampaignState, wanted: int, now: datetime) -> None:
        s = self.session
        gate = ContactGate(
            s, actor=self.actor, campaign=campaign, limits=service.limits_of(s), rules=self.config.rules, now=now
        )
        candidates = s.scalars(
            select(CampaignContact)
            .where(
                CampaignContact.campaign_id == campaign.id,
                CampaignContact.state == "pending",
                CampaignContact.next_due_at <= now,
            )
            .order_by(CampaignContact.priority_rank, CampaignContact.next_due_at, CampaignContact.id)
            .limit(wanted * 3 + 10)
        ).all()
        placed = 0
        for cc in candidates:
            if placed >= wanted:
                break
            verdict = gate.check(cc)
            if isinstance(verdict, str):
                self._block(campaign, verdict, now)
            elif verdict is not None:
                self._start_dial(campaign, state, cc, verdict.e164, verdict.phone_bidx, now)
                gate.dialled()
                placed += 1
        s.commit()

    # --- dialling --------------------------------------------------------------------------------------------

    def _start_dial(
        self, campaign: Campaign, state: _CampaignState, cc: CampaignContact, e164: str, bidx: bytes, now: datetime
    ) -> None:
        s = self.session
        cc.attempts += 1
        cc.state = "dialing"
        attempt = DialAttempt(
            campaign_id=campaign.id,
            campaign_contact_id=cc.id,
            contact_id=cc.contact_id,
            attempt_no=cc.attempts,
            phone_position=cc.phone_position,
            phone_bidx=bidx,
            state="planned",
            created_at=now,
        )
        s.add(attempt)
        # The row is durable before the engine is asked to dial: a crash from here on leaves a row to reconcile.
        s.commit()
        dial = _Dial(attempt.id, campaign.id, self.timebase.seconds(), campaign.purpose, campaign.ivr_flow_id)
        self._dials[attempt.id] = dial
        state.stats.dials += 1
        outstanding = sum(1 for d in self._dials.values() if d.campaign_id == campaign.id and not d.answered)
        state.stats.max_outstanding = max(state.stats.max_outstanding, outstanding)
        to_uri = self.config.uri_template.format(number=e164)
        from_uri = self.config.caller_uri_template.format(number=campaign.caller_id)
        task = asyncio.ensure_future(self._dial(campaign.id, campaign.dialing_mode, dial, to_uri, from_uri))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dial(self, campaign_id: uuid.UUID, mode: str, dial: _Dial, to_uri: str, from_uri: str) -> None:
        try:
            await self._call(campaign_id, mode, dial, to_uri, from_uri)
        except Exception:
            # A defect must not hold a line forever: the attempt ends failed, the contact is retried by the rules.
            log.exception("campaign dial failed", campaign_id=str(campaign_id))
            self.session.rollback()
            if dial.attempt_id in self._dials:
                self._finish(dial, Outcome.FAILED, talk_s=0.0)

    async def _call(self, campaign_id: uuid.UUID, mode: str, dial: _Dial, to_uri: str, from_uri: str) -> None:
        state = self._state_for(campaign_id, mode)
        try:
            call_id = await self.engine.originate(to_uri, from_uri, ring_timeout=self.config.ring_timeout_s)
        except TelephonyError:
            self._finish(dial, Outcome.FAILED, talk_s=0.0)
            return
        interaction_id = self._record(dial, call_id, to_uri)
        self._update(
            dial,
            state="dialing",
            call_ref=str(call_id),
            originated_at=self.timebase.now(),
            interaction_id=interaction_id,
        )
        track = self._track(call_id)
        first = await track.first
        ring_s = self.timebase.seconds() - dial.started_s
        if isinstance(first, CallHangup):
            outcome = _CAUSE_OUTCOME.get(first.cause, Outcome.FAILED)
            state.policy.record(
                DialResolved(self.timebase.seconds(), ring_s, _PACING_OUTCOME.get(outcome, DialOutcome.FAILED))
            )
            self._tracks.pop(call_id, None)
            self._finish(dial, outcome, talk_s=0.0)
            return
        now_s = self.timebase.seconds()
        dial.answered = True
        answered_s = now_s
        self._update(dial, answered_at=self.timebase.now())
        if mode == DialingMode.AGENTLESS.value:
            handler = self.agentless(campaign_id) if self.agentless is not None else self._flow_handler(campaign_id)
            keys = await handler(call_id) if handler is not None else ""
            await self._hangup(call_id)
            self._tracks.pop(call_id, None)
            self._finish(dial, Outcome.ANSWERED, talk_s=self.timebase.seconds() - answered_s, keypresses=keys)
            return
        state.policy.record(DialResolved(now_s, ring_s, DialOutcome.LIVE))
        state.ledger.record_live_answer(now_s)
        state.stats.live += 1
        pool = self.agents(campaign_id)
        agent = await self._wait_for_agent(pool, dial, track)
        if agent is None:
            at = self.timebase.seconds()
            state.ledger.record_abandon(at)
            state.policy.record(LiveAnswerAbandoned(at))
            state.stats.abandoned += 1
            await self._abandon(call_id, track)
            self._tracks.pop(call_id, None)
            self._finish(dial, Outcome.ABANDONED, talk_s=self.timebase.seconds() - answered_s, abandoned=True)
            return
        assert pool is not None
        connected_s = self.timebase.seconds()
        await pool.converse(agent, call_id)
        state.policy.record(CallHandled(self.timebase.seconds(), self.timebase.seconds() - connected_s))
        self._tracks.pop(call_id, None)
        self._finish(dial, Outcome.ANSWERED, talk_s=self.timebase.seconds() - answered_s, agent=agent)

    def _record(self, dial: _Dial, call_id: CallId, to_uri: str) -> uuid.UUID | None:
        """Attribute the leg just originated to the institution, as the attempt's call record (its id is chosen
        here, so the attempt row points to it from the update that records the originate)."""
        if self.recorder is None:
            return None
        interaction_id = new_id()
        claim = LegClaim(
            self.actor.tenant_id,
            PartyKind.CUSTOMER,
            trunk=trunk_of(to_uri),
            campaign_id=dial.campaign_id,
            flow_id=dial.flow_id,
            new_interaction_id=interaction_id,
            source="campaign",
            source_id=dial.attempt_id,
            purpose=dial.purpose,
        )
        self.recorder.claim(call_id, claim)
        return interaction_id

    def _flow_handler(self, campaign_id: uuid.UUID) -> AgentlessHandler | None:
        """The campaign's published IVR flow, run by the interpreter (None, and the call is ended, without one)."""
        if campaign_id in self._flows:
            return self._flows[campaign_id]
        campaign = self.session.get(Campaign, campaign_id)
        handler: AgentlessHandler | None = None
        if campaign is not None and campaign.ivr_flow_id is not None:
            flow = ivr.get_flow(self.session, flow_id=campaign.ivr_flow_id)
            published = ivr.published_flow(self.session, entry_point=flow.entry_point)
            if published is not None:
                interpreter = Interpreter(
                    self.engine,
                    clock=EngineClock(self.timebase),
                    prompt_root=prompts.prompt_root(self.actor.tenant_slug),
                    wall_now=self.timebase.now,
                )
                handler = FlowHandler(interpreter, published.document)
        self.session.commit()
        if handler is None:
            log.warning("agentless campaign without a published flow", campaign_id=str(campaign_id))
        self._flows[campaign_id] = handler
        return handler

    async def _wait_for_agent(self, pool: AgentPool | None, dial: _Dial, track: _CallTrack) -> str | None:
        start = self.timebase.seconds()
        dial.waiting_since = start
        try:
            while pool is not None and not track.ended.done():
                agent = pool.take(self.timebase.seconds())
                if agent is not None:
                    return agent
                if self.timebase.seconds() - start >= self.config.grace_s:
                    return None
                await self.timebase.sleep(self.config.agent_poll_s)
            return None
        finally:
            dial.waiting_since = None

    async def _abandon(self, call_id: CallId, track: _CallTrack) -> None:
        """No agent in time: play the identification message (who called, that we will call back) and hang up."""
        if not track.ended.done():
            with contextlib.suppress(TelephonyError):
                await self.engine.play(call_id, SpeechText(self.config.abandon_message, language="zh"))
        await self._hangup(call_id)

    async def _hangup(self, call_id: CallId) -> None:
        with contextlib.suppress(TelephonyError):
            await self.engine.hangup(call_id)

    def _update(self, dial: _Dial, **values: object) -> None:
        attempt = self.session.get(DialAttempt, dial.attempt_id)
        if attempt is not None:
            for name, value in values.items():
                setattr(attempt, name, value)
        self.session.commit()

    def _finish(
        self,
        dial: _Dial,
        outcome: Outcome,
        *,
        talk_s: float,
        abandoned: bool = False,
        keypresses: str = "",
        agent: str | None = None,
    ) -> None:
        """Close the attempt, rate it, charge the budgets (alerts, hard stop) and schedule the contact."""
        s = self.session
        self._dials.pop(dial.attempt_id, None)
        attempt = s.get(DialAttempt, dial.attempt_id)
        if attempt is None:
            s.commit()
            return
        now = self.timebase.now()
        limits = service.limits_of(s)
        billed = limits.rating.billed_seconds(talk_s) if attempt.answered_at is not None else 0
        attempt.state = "ended"
        attempt.outcome = outcome.value
        attempt.ended_at = now
        attempt.abandoned = abandoned
        attempt.keypresses = keypresses[:40]
        attempt.agent_ref = agent
        attempt.billed_seconds = billed
        attempt.cost = limits.rating.cost(billed)
        # Locked and re-read: a person may have paused or finished the campaign meanwhile.
        campaign = s.get(Campaign, attempt.campaign_id, with_for_update=True, populate_existing=True)
        cc = s.get(CampaignContact, attempt.campaign_contact_id)
        if campaign is not None:
            campaign.spent_seconds += billed
            campaign.spent_money = Decimal(campaign.spent_money) + attempt.cost
            s.flush()
            self._charge(campaign, limits, now)
            if cc is not None:
                self._schedule(campaign, cc, outcome, now)
        s.commit()

    def _charge(self, campaign: Campaign, limits: InstitutionLimits, now: datetime) -> None:
        s = self.session
        usage = service.budget_usage(campaign)
        service.alert_thresholds_crossed(
            s, actor=self.actor, campaign=campaign, usage=usage, thresholds=campaign.alert_thresholds, tag="campaign"
        )
        month = _month_start(now)
        inst = service.institution_usage(s, limits=limits, month_start=month)
        service.alert_thresholds_crossed(
            s,
            actor=self.actor,
            campaign=campaign,
            usage=inst,
            thresholds=limits.alert_thresholds,
            tag=month.strftime("%Y-%m"),
        )
        spent = sorted(name for name, used in (usage | inst).items() if used >= 1.0)
        if spent and campaign.status == Status.RUNNING.value:
            service.hard_stop(s, actor=self.actor, campaign=campaign, budget=spent[0])

    def _schedule(self, campaign: Campaign, cc: CampaignContact, outcome: Outcome, now: datetime) -> None:
        counts = dict(cc.outcome_counts or {})
        counts[outcome.value] = int(counts.get(outcome.value, 0)) + 1
        cc.outcome_counts = counts
        cc.last_outcome = outcome.value
        decision, wait = after_attempt(
            outcome,
            count_for_outcome=counts[outcome.value],
            rules=retry_rules(campaign.retry_rules or {}),
            no_redial=self.config.rules.no_redial_after_abandon,
        )
        if decision is RetryDecision.DONE:
            cc.state = "done"
        elif decision is RetryDecision.RETRY:
            cc.state = "pending"
            cc.next_due_at = now + wait
        elif decision is RetryDecision.NEXT_PHONE:
            cc.state = "pending"
            next_phone(cc, now, f"{outcome.value}_exhausted")
        else:
            close(cc, "exhausted")


def _rank(campaign: Campaign, custom: dict[str, object]) -> float:
    """Smaller first: the earliest due date, or the highest lead score; contacts without the field come last."""
    if campaign.priority_kind == "none" or not campaign.priority_field:
        return 0.0
    raw = custom.get(campaign.priority_field)
    if raw is None or raw == "":
        return _LAST
    if campaign.priority_kind == "lead_score":
        try:
            score = float(str(raw))
        except ValueError:
            return _LAST
        return -score if math.isfinite(score) else _LAST
    try:
        due = datetime.fromisoformat(str(raw))
    except ValueError:
        return _LAST
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return due.timestamp()


def _month_start(now: datetime) -> datetime:
    utc = now.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)
