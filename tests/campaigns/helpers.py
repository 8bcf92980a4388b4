"""Campaign test helpers: an institution with a list of contacts, campaigns made through the action functions,
and a simulated shift (sim engine, simulated agents, scripted callees) driving the real runner."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from callvault.campaigns import service
from callvault.campaigns.agents import AgentlessHandler, AgentPool, SimTimebase, SimulatedAgents
from callvault.campaigns.runner import CampaignRunner, RunnerConfig
from callvault.campaigns.schemas import CampaignCreate
from callvault.contacts import service as contacts
from callvault.contacts.phones import Phone, PhoneType
from callvault.contacts.schemas import ContactListCreate, CustomField
from callvault.contacts.sealing import insert_sealed, seal_contact
from callvault.contacts.validate import Contact
from callvault.core import clock
from callvault.core.db import Database
from callvault.security.principal import Principal, system_principal
from callvault.security.vault.runtime import vault
from callvault.telephony import CallOriginated
from callvault.telephony.sim import Directory, FarEnd, SimEngine
from callvault.tenancy import service as tenancy
from tests.fixtures import World

# Simulated shifts start tomorrow at 10:00 in Shanghai (hours of calling before quiet hours begin at 21:00), so
# dates the API checks against the real clock (a campaign's end date) lie in the future.
START = (clock.now() + timedelta(days=1)).astimezone(UTC).replace(hour=2, minute=0, second=0, microsecond=0)


def actor(db: Database, slug: str, name: str = "planner") -> Principal:
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        return system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name=name)


def number(i: int) -> str:
    return f"+86138{i:08d}"


def make_list(
    db: Database, slug: str, count: int, *, name: str = "debtors", custom: Callable[[int], dict[str, str]] | None = None
) -> tuple[uuid.UUID, list[str]]:
    """A list of `count` contacts, each with one mobile number; returns the list id and the numbers."""
    who = actor(db, slug)
    numbers = [number(i) for i in range(count)]
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        contacts.create_list(
            session, actor=who, data=ContactListCreate(name=name, custom_fields=[CustomField(name="score")])
        )
        lst = contacts.get_list_by_name(session, name=name)
        assert lst is not None
        sealed = [
            seal_contact(
                vault(),
                tenant_id=who.tenant_id,
                list_id=lst.id,
                contact=Contact(line=i + 2, phones=(Phone(n, PhoneType.MOBILE),), custom=custom(i) if custom else {}),
            )
            for i, n in enumerate(numbers)
        ]
        insert_sealed(session, sealed)
        session.commit()
        return lst.id, numbers


def running_campaign(db: Database, slug: str, list_id: uuid.UUID, **strategy: Any) -> uuid.UUID:
    """Create, approve (by someone else) and start a campaign."""
    creator, approver = actor(db, slug), actor(db, slug, "approver")
    data: dict[str, Any] = {"name": f"c-{uuid.uuid4().hex[:6]}", "purpose": "collections", "caller_id": "95588"}
    data |= strategy
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        created = service.create_campaign(
            session, actor=creator, data=CampaignCreate.model_validate({"list_id": list_id, **data})
        )
        service.approve_campaign(session, actor=approver, campaign_id=created.id)
        service.start_campaign(session, actor=creator, campaign_id=created.id)
        return created.id


@dataclass
class Shift:
    """A simulated shift: callees at every number, `agents` simulated agents, the runner on top."""

    db: Database
    slug: str
    tmp: Path
    numbers: list[str]
    agents: int = 5
    p_answer: float = 1.0
    answer_after: float = 5.0
    mean_handling_s: float = 60.0
    seed: int = 1
    far_ends: dict[str, FarEnd] = field(default_factory=dict)
    config: RunnerConfig = field(default_factory=RunnerConfig)
    originated: list[str] = field(default_factory=list)
    runners: list[CampaignRunner] = field(default_factory=list)
    agentless: Callable[[SimEngine], AgentlessHandler] | None = None
    pool: Callable[[SimEngine], AgentPool] | None = None
    elapsed: float = 0.0

    def engine(self) -> SimEngine:
        engine = SimEngine(directory=Directory(), recordings_dir=self.tmp, seed=self.seed + len(self.runners))
        default = FarEnd(answer_after=self.answer_after, answer_probability=self.p_answer, gives_up_after=25.0)
        for n in self.numbers:
            engine.directory.add(f"sip:{n}@pstn", self.far_ends.get(n, default))
        return engine

    async def _collect(self, engine: SimEngine) -> None:
        async for event in engine.events():
            if isinstance(event, CallOriginated):
                self.originated.append(event.to_uri.removeprefix("sip:").removesuffix("@pstn"))

    def run(
        self,
        *,
        crash_after_s: float | None = None,
        until_s: float | None = None,
        meanwhile: tuple[float, Callable[[], None]] | None = None,
    ) -> CampaignRunner:
        """Run a runner on a fresh engine (a new process) until its campaigns finish, `until_s` virtual seconds
        pass, or - simulating kill -9 - it is dropped after `crash_after_s` seconds."""

        async def main() -> CampaignRunner:
            engine = self.engine()
            timebase = SimTimebase(engine, START + timedelta(seconds=self.elapsed))
            pool = (
                self.pool(engine)
                if self.pool is not None
                else SimulatedAgents(engine, count=self.agents, mean_handling_s=self.mean_handling_s, seed=self.seed)
            )
            runner = CampaignRunner(
                self.db,
                tenant_slug=self.slug,
                engine=engine,
                timebase=timebase,
                agents=lambda _cid: pool,
                agentless=(lambda _cid: agentless(engine)) if (agentless := self.agentless) is not None else None,
                config=self.config,
            )
            self.runners.append(runner)
            collector = asyncio.ensure_future(self._collect(engine))
            if meanwhile is not None:  # a person acting through the API while the runner dials
                engine.clock.call_later(*meanwhile)

            async def drive() -> None:
                until = (lambda: timebase.seconds() >= until_s) if until_s is not None else None
                task = asyncio.ensure_future(runner.run(until=until))
                if crash_after_s is None:
                    await task
                    return
                await engine.sleep(crash_after_s)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            try:
                await engine.run(drive())
            finally:
                self.elapsed += engine.clock.now
                runner.close()
                await engine.close()
                await asyncio.sleep(0)
                collector.cancel()
            return runner

        return asyncio.run(main())


def world_institution(world: World, settings: dict[str, Any] | None = None) -> str:
    inst = world.institution(roles=())
    if settings:
        from callvault.tenancy.schemas import TenantUpdate

        with world.db.scoped() as session:
            op = tenancy.operator_principal(session)
            tenancy.update_tenant(session, actor=op, tenant_id=inst.id, data=TenantUpdate(settings=settings))
    return inst.slug
