"""The product's background loops, built from Settings: webhook delivery, trigger worker, campaign runner, rating.

Each loop is safe to run in several processes at once: the trigger worker claims a request with a conditional
update, the dispatcher claims deliveries (skip-locked on PostgreSQL, SQLite's single writer otherwise), rating
inserts into a ledger unique by leg, and an institution's campaign runner runs under a lease (one process at a
time), because it keeps the pacing state of its calls in memory.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import select

from callvault.acd.owner import AcdOwners
from callvault.billing.from_interactions import RatingPasses, institutions
from callvault.campaigns.agents import Timebase
from callvault.campaigns.models import Campaign
from callvault.campaigns.runner import CampaignRunner, RunnerConfig
from callvault.campaigns.strategy import Status
from callvault.config import Settings
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.inbound.switchboard import Switchboard, front_dialer, plain_dialer
from callvault.interactions.recorder import LegClaims
from callvault.ivr import prompts
from callvault.ivr.interpreter import Clock
from callvault.services import leases
from callvault.services.calls import CallEngine, SipCalls, Work, call_engine, sip_calls
from callvault.services.host import Loop, ServiceHost
from callvault.telephony.port import Engine
from callvault.trigger.worker import TriggerWorker
from callvault.webhooks.dispatcher import Dispatcher

log = structlog.get_logger(__name__)

CALLS_GROUP = "calls"  # the trigger worker and the campaign runner share the engine, so one event loop


def _scope(db: Database, slugs: list[str]) -> list[tuple[uuid.UUID, str]]:
    """The institutions this process serves (read every pass: institutions are created while it runs)."""
    return institutions(db, slugs or None)


@dataclass
class WebhookPasses:
    db: Database
    settings: Settings
    slugs: list[str] = field(default_factory=list)
    attempted: int = 0

    def __post_init__(self) -> None:
        # An institution's private CA, when configured; otherwise the system's trust store.
        ca = self.settings.webhook_ca_file
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True

    async def run_once(self) -> int:
        tenants = [tenant_id for tenant_id, _ in _scope(self.db, self.slugs)] if self.slugs else None
        dispatcher = Dispatcher(
            self.db,
            timeout=self.settings.webhook_timeout_seconds,
            allow_private=self.settings.webhook_allow_private,
            verify=self.verify,
            tenants=tenants,
        )
        attempted = await dispatcher.deliver_due()
        self.attempted += attempted
        return attempted


@dataclass
class TriggerPasses:
    db: Database
    settings: Settings
    engine: CallEngine
    slugs: list[str] = field(default_factory=list)
    # The latest requests this process dialled (bounded: the process runs for months).
    placed: deque[uuid.UUID] = field(default_factory=lambda: deque(maxlen=10_000))

    async def run_once(self) -> int:
        handled = 0
        for tenant_id, slug in _scope(self.db, self.slugs):
            handled += await self.engine.run(self._worker(tenant_id, slug))
        return handled

    def _worker(self, tenant_id: uuid.UUID, slug: str) -> Work[int]:
        async def work(engine: Engine, clock: Clock | None, timebase: Timebase, recorder: LegClaims) -> int:
            worker = TriggerWorker(
                self.db,
                engine,
                prompt_root=prompts.prompt_root(slug),
                clock=clock,
                ring_timeout=self.settings.trigger_ring_timeout_seconds,
                dial_uri=self.settings.sip_dial_uri,
                from_uri=self.settings.sip_from_uri,
                wall_now=timebase.now,
                tenants=[tenant_id],
                recorder=recorder,
            )
            try:
                return await worker.run_once()
            finally:
                self.placed.extend(worker.placed)

        return work


@dataclass
class InboundPasses:
    """Keeps the switchboard on the sip engine: the first pass starts the engine and attaches it, so the
    institutions' numbers answer as soon as the process runs (not on the first outbound call)."""

    db: Database
    calls: SipCalls
    owners: AcdOwners
    switchboard: Switchboard | None = None

    async def run_once(self) -> None:
        if self.switchboard is not None:
            return
        engine = await self.calls.started()
        # The sip engine rings `agent:` phones through its front; without a front only its own directory.
        dial = front_dialer(engine) if self.calls.front else plain_dialer(engine)  # type: ignore[arg-type]
        self.switchboard = Switchboard(engine, self.db, self.owners, self.calls.recorder, dial_station=dial)
        self.calls.handler = self.switchboard
        log.info("inbound switchboard serving the sip engine", front=self.calls.front or "")


@dataclass
class CampaignPasses:
    """One pass per institution with a running campaign: under the institution's lease, the runner dials for
    `campaign_pass_seconds` (virtual seconds on the sim engine), then finishes the calls it placed."""

    db: Database
    settings: Settings
    engine: CallEngine
    holder: str
    stopping: Callable[[], bool]
    slugs: list[str] = field(default_factory=list)
    passes: int = 0
    runs: int = 0  # institution runs this process did (under the lease)

    async def run_once(self) -> int:
        ran = 0
        for tenant_id, slug in _scope(self.db, self.slugs):
            if not self._has_running(tenant_id):
                continue
            name = f"campaigns:{tenant_id}"
            if not leases.acquire(self.db, name, self.holder, self.settings.campaign_lease_seconds):
                continue  # another process runs this institution's campaigns
            try:
                await self.engine.run(self._work(slug, name))
                ran += 1
            finally:
                leases.release(self.db, name, self.holder)
        self.passes += 1
        self.runs += ran
        return ran

    def _has_running(self, tenant_id: uuid.UUID) -> bool:
        with self.db.scoped() as session:
            set_tenant(session, tenant_id)
            found = session.scalar(select(Campaign.id).where(Campaign.status == Status.RUNNING.value).limit(1))
            session.commit()
            return found is not None

    def _work(self, slug: str, lease: str) -> Work[None]:
        async def work(engine: Engine, _clock: Clock | None, timebase: Timebase, recorder: LegClaims) -> None:
            runner = CampaignRunner(
                self.db,
                tenant_slug=slug,
                engine=engine,
                timebase=timebase,
                agents=lambda _campaign_id: None,  # agent pools are not wired here: agentless campaigns dial
                config=RunnerConfig(uri_template=self.settings.sip_dial_uri),
                recorder=recorder,
            )
            start = timebase.seconds()
            renew_every = self.settings.campaign_lease_seconds / 3
            renewed = start
            lost = False

            def until() -> bool:
                nonlocal renewed, lost
                now = timebase.seconds()
                if not lost and now - renewed >= renew_every:
                    lost = not leases.acquire(self.db, lease, self.holder, self.settings.campaign_lease_seconds)
                    renewed = now
                return lost or self.stopping() or now - start >= self.settings.campaign_pass_seconds

            try:
                await runner.run(until=until)
            finally:
                runner.close()

        return work


@dataclass
class Services:
    """The loops of one process and what they did (tests and the worker command read it)."""

    host: ServiceHost
    webhooks: WebhookPasses | None = None
    trigger: TriggerPasses | None = None
    campaigns: CampaignPasses | None = None
    rating: RatingPasses | None = None
    inbound: InboundPasses | None = None


def build_services(
    settings: Settings, db: Database, *, engine: CallEngine | None = None, owners: AcdOwners | None = None
) -> Services:
    """The enabled loops on one host (not started). `owners`: the routing owners of the process (the app's);
    only a process that routes carries inbound calls."""
    slugs = settings.service_tenant_slugs
    calls = engine or call_engine(settings, db)
    webhooks = WebhookPasses(db, settings, slugs) if settings.service_webhooks else None
    trigger = TriggerPasses(db, settings, calls, slugs) if settings.service_trigger else None
    campaigns = None
    if settings.service_campaigns:
        campaigns = CampaignPasses(db, settings, calls, holder=leases.holder_id(), stopping=lambda: False, slugs=slugs)
    rating = None
    if settings.service_rating:
        lookback = timedelta(days=settings.rating_lookback_days)
        rating = RatingPasses(db, lookback=lookback, full_scan_seconds=settings.rating_full_scan_seconds, slugs=slugs)
    inbound = None
    if settings.service_inbound and owners is not None:
        # Inbound calls need a real engine: the shared one when the process dials on SIP, else one of their own
        # when a SIP front is configured (outbound work may stay on the simulated engine, as in the demo).
        inbound_calls = (
            calls if isinstance(calls, SipCalls) else sip_calls(settings, db) if settings.sip_front else None
        )
        if inbound_calls is not None:
            inbound = InboundPasses(db, inbound_calls, owners)
    loops: list[Loop] = []
    if inbound is not None:
        loops.append(Loop("inbound", inbound.run_once, settings.inbound_check_seconds, CALLS_GROUP))
    if webhooks is not None:
        loops.append(Loop("webhooks", webhooks.run_once, settings.webhook_interval_seconds))
    if trigger is not None:
        loops.append(Loop("trigger", trigger.run_once, settings.trigger_interval_seconds, CALLS_GROUP))
    if campaigns is not None:
        loops.append(Loop("campaigns", campaigns.run_once, settings.campaign_interval_seconds, CALLS_GROUP))
    if rating is not None:
        loops.append(Loop("rating", _rating_pass(rating), settings.rating_interval_seconds))
    host = ServiceHost(
        loops, restart_min=settings.service_restart_min_seconds, restart_max=settings.service_restart_max_seconds
    )
    if campaigns is not None:
        campaigns.stopping = lambda: host.stopping
    if trigger is not None or campaigns is not None:
        host.on_stop(CALLS_GROUP, calls.close)
    if inbound is not None and inbound.calls is not calls:
        host.on_stop(CALLS_GROUP, inbound.calls.close)
    elif inbound is not None and trigger is None and campaigns is None:
        host.on_stop(CALLS_GROUP, calls.close)
    return Services(host, webhooks, trigger, campaigns, rating, inbound)


def _rating_pass(rating: RatingPasses) -> Callable[[], Awaitable[None]]:
    async def rate() -> None:
        # The rating reads and writes many rows: a worker thread, so this group's event loop stays free.
        result = await asyncio.to_thread(rating.run_once)
        if result.run.rated or result.bad:
            body = result.as_dict()
            log.info("rated call legs", rated=body["rated"], read=body["read"], bad_records=body["bad_records"])

    return rate
