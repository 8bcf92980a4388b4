"""The switchboard on the simulated engine, against the real database and the real routing owner: a caller dials
the institution's number, keys through the published flow, waits in the queue, the agent's phone rings and
answers, the two are bridged; the call record, the routing log and the agent's state say what happened.

Virtual time: the whole day of a call runs at once and its times are exact."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners
from callvault.campaigns.agents import EngineClock, SimTimebase
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.errors import Conflict, NotFound
from callvault.core.tenant_context import set_tenant
from callvault.inbound.switchboard import Switchboard, inline
from callvault.interactions.recorder import CallRecorder
from callvault.telephony.events import CallBridged, CallEvent, MonitorStarted
from callvault.telephony.sim import Directory, FarEnd, SimEngine
from tests.fixtures import World
from tests.inbound.floors import decisions, floor, interactions, new_did, ready
from tests.vault_fixtures import PHONE, store_contact

S = AgentState


@dataclass
class Run:
    switchboard: Switchboard
    events: list[CallEvent]


def run_calls(
    db: Database,
    owners: AcdOwners,
    tmp_path: Path,
    *,
    phones: dict[str, FarEnd],
    callers: list[tuple[float, FarEnd, str]],
    actions: list[tuple[float, Callable[[Switchboard], Awaitable[None] | None]]] | None = None,
    seconds: float = 300.0,
    caller_uri: str = "sip:+8613800138000@pstn",
) -> Run:
    """Callers (arrival second, script, called number) on a fresh simulated engine with a switchboard; `actions`
    are what agents do at their desks (second, action)."""
    seen: list[CallEvent] = []
    timeline: list[tuple[float, int, Callable[[Switchboard], Awaitable[None] | None] | tuple[FarEnd, str]]] = [
        (at, i, (caller, number)) for i, (at, caller, number) in enumerate(callers)
    ]
    timeline += [(at, len(timeline) + i, action) for i, (at, action) in enumerate(actions or [])]

    async def main() -> Switchboard:
        sim = SimEngine(directory=Directory({f"agent:{u}": fe for u, fe in phones.items()}), recordings_dir=tmp_path)
        timebase = SimTimebase(sim, clock.now())
        engine_clock = EngineClock(timebase)
        recorder = CallRecorder(db, wall_clock=lambda at: timebase.start + timedelta(seconds=at - timebase.offset))
        board = Switchboard(sim, db, owners, recorder, clock=engine_clock, blocking=inline)
        log = sim.events()

        async def collect() -> None:
            async for event in log:
                seen.append(event)

        async def scenario() -> None:
            serving = asyncio.ensure_future(board.run(sim.events()))
            collecting = asyncio.ensure_future(collect())
            t = 0.0
            for at, _, step in sorted(timeline, key=lambda c: c[:2]):
                await sim.sleep(at - t)
                t = at
                if isinstance(step, tuple):
                    caller, number = step
                    sim.offer_inbound(caller, from_uri=caller_uri, to_uri=f"sip:{number}@callvault")
                else:
                    done = step(board)
                    if done is not None:
                        await done
            await sim.sleep(seconds - t)
            await sim.close()
            await serving
            await collecting

        await sim.run(scenario(), limit=seconds + 60)
        return board

    return Run(asyncio.run(main()), seen)


def test_caller_keys_through_the_flow_waits_and_talks_to_the_agent_on_the_phone(
    db: Database, world: World, tmp_path: Path
) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"alice": True})
    ready(db, f, f.agents["alice"])
    caller = FarEnd(digits=FarEnd.presses("1", start=1.0), hangup_after=None)
    alice_phone = FarEnd(answer_after=4.0, hangup_after=30.0)  # the agent ends the call after 30 s of talk

    run = run_calls(db, owners, tmp_path, phones={"alice": alice_phone}, callers=[(0.0, caller, f.did)])

    assert (run.switchboard.stats.offered, run.switchboard.stats.connected) == (1, 1)
    bridged = [e for e in run.events if isinstance(e, CallBridged)]
    assert len(bridged) == 2  # caller and agent legs in one bridge
    (row, legs), *rest = interactions(db, f.tenant_id)
    assert not rest
    assert (row.direction, row.entry_point, row.queue_id, row.status) == ("inbound", "ivr:main", f.queue_id, "ended")
    assert row.ivr_path[:1] == ["menu"] and row.ivr_path[-1] == "to_cards"
    assert [(leg.party, leg.agent_id) for leg in legs] == [("customer", None), ("agent", f.agents["alice"])]
    # The phone rang 4 s and the agent talked 30 s; the caller waited from the queue to the ring.
    assert row.ring_ms == 4000
    assert row.talk_ms == 30000
    assert row.queued_at is not None and row.answered_at is not None
    assert 0 <= row.queue_wait_ms < 1000
    agent = f.owner.router.agents[f.agents["alice"]]
    assert agent.state is S.WRAP_UP and agent.call is None
    assert [k for k in decisions(db, f.tenant_id) if k in ("offered", "answered")] == ["offered", "answered"]


def test_a_phone_that_does_not_answer_is_ring_no_answer_and_the_next_agent_gets_the_caller(
    db: Database, world: World, tmp_path: Path
) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"bob": True, "carol": True}, entry="queue")
    for agent_id in f.agents.values():
        ready(db, f, agent_id)
    busy = FarEnd(answer_after=1.0, reject_code=486)
    answers = FarEnd(answer_after=2.0, hangup_after=20.0)
    caller = FarEnd(hangup_after=None)

    run = run_calls(db, owners, tmp_path, phones={"bob": busy, "carol": answers}, callers=[(0.0, caller, f.did)])

    stats = run.switchboard.stats
    assert (stats.rings, stats.connected) == (2, 1)
    states = {name: f.owner.router.agents[aid].state for name, aid in f.agents.items()}
    # Whichever phone was rung first: the busy one's agent is paused (ring-no-answer), the other talked.
    assert sorted(s.value for s in states.values()) == ["paused", "wrap_up"]
    paused = next(aid for aid in f.agents.values() if f.owner.router.agents[aid].state is S.PAUSED)
    assert f.owner.router.agents[paused].reason == "ring_no_answer"
    ((row, legs),) = interactions(db, f.tenant_id)
    assert row.entry_point == "queue:cards" and row.ivr_path == []
    assert [leg.party for leg in legs] == ["customer", "agent", "agent"]
    assert [leg.hangup_cause for leg in legs[1:]] == ["busy", "normal"]
    assert row.talk_ms == 20000


def test_caller_hanging_up_in_the_queue_is_an_abandon_and_stops_the_ringing_phone(
    db: Database, world: World, tmp_path: Path
) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"dave": True}, entry="queue")
    ready(db, f, f.agents["dave"])
    slow_phone = FarEnd(answer_after=60.0, hangup_after=10.0)
    caller = FarEnd(hangup_after=12.0)  # gives up while the phone still rings

    run = run_calls(db, owners, tmp_path, phones={"dave": slow_phone}, callers=[(0.0, caller, f.did)])

    assert (run.switchboard.stats.abandoned, run.switchboard.stats.connected) == (1, 0)
    agent = f.owner.router.agents[f.agents["dave"]]
    assert agent.state is S.READY and agent.call is None  # never stuck ringing or reserved
    assert "abandoned" in decisions(db, f.tenant_id)
    ((row, legs),) = interactions(db, f.tenant_id)
    assert row.status == "ended" and row.answered_at is None and row.talk_ms == 0
    assert [(leg.party, leg.answered_at is None) for leg in legs] == [("customer", False), ("agent", True)]


def test_waiting_callers_are_put_through_in_order_as_the_agent_frees_up(
    db: Database, world: World, tmp_path: Path
) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"erin": True}, entry="queue")
    erin = f.agents["erin"]
    ready(db, f, erin)
    phone = FarEnd(answer_after=1.0, hangup_after=15.0)
    first, second = FarEnd(hangup_after=None, voice_hz=300.0), FarEnd(hangup_after=None, voice_hz=500.0)

    def end_wrap_up(_: Switchboard) -> None:
        with db.scoped() as session:
            set_tenant(session, f.tenant_id)
            f.owner.end_wrap_up(session, actor=f.actor, agent_id=erin, disposition="resolved", then=S.READY, reason="")

    run = run_calls(
        db,
        owners,
        tmp_path,
        phones={"erin": phone},
        callers=[(0.0, first, f.did), (2.0, second, f.did)],
        actions=[(40.0, end_wrap_up)],
        seconds=90,
    )

    # One agent: the first caller talks while the second waits; once the agent ended wrap-up at the desk, the
    # phone rings again for the second caller.
    assert run.switchboard.stats.connected == 2
    assert f.owner.router.queues[f.queue_id].waiting == 0
    records = interactions(db, f.tenant_id)
    assert len(records) == 2
    (one, one_legs), (two, two_legs) = records
    assert one_legs[1].answered_at is not None and two_legs[1].answered_at is not None
    assert one_legs[1].answered_at < two_legs[1].answered_at  # first come, first served
    assert two.queue_wait_ms >= 38_000  # from 2 s to the ring at 40 s
    assert (one.talk_ms, two.talk_ms) == (15000, 15000)


def test_a_number_of_no_institution_is_refused_and_not_recorded(db: Database, world: World, tmp_path: Path) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    caller = FarEnd(hangup_after=None)
    run = run_calls(db, owners, tmp_path, phones={}, callers=[(0.0, caller, new_did())], seconds=10)
    assert (run.switchboard.stats.offered, run.switchboard.stats.refused) == (1, 1)
    assert not [e for e in run.events if e.name == "call.answered"]


def test_the_agent_holds_unholds_and_transfers_the_caller_to_another_queue(
    db: Database, world: World, tmp_path: Path
) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(
        db,
        world,
        owners,
        phones={"fay": True, "gus": True},
        entry="queue",
        skills={"fay": {"cards": 3}, "gus": {"loans": 3}},
    )
    fay, gus = f.agents["fay"], f.agents["gus"]
    for agent_id in (fay, gus):
        ready(db, f, agent_id)
    phones = {"fay": FarEnd(answer_after=1.0, hangup_after=None), "gus": FarEnd(answer_after=2.0, hangup_after=None)}
    caller = FarEnd(hangup_after=60.0)  # hangs up 60 s after the switchboard answered

    def holding(command: str, queue: uuid.UUID | None = None) -> Callable[[Switchboard], Awaitable[None]]:
        async def act(board: Switchboard) -> None:
            agent = f.owner.router.agents[fay]
            assert agent.call is not None
            await board.control(
                tenant_id=f.tenant_id, agent_id=fay, call_id=agent.call.id, command=command, queue_id=queue
            )

        return act

    async def strangers(board: Switchboard) -> None:
        call = f.owner.router.agents[gus].call
        assert call is not None  # gus talks to the caller now; fay's commands no longer reach the call
        with pytest.raises(NotFound):
            await board.control(tenant_id=f.tenant_id, agent_id=fay, call_id=call.id, command="hangup")
        with pytest.raises(NotFound):
            await board.control(tenant_id=uuid.uuid4(), agent_id=gus, call_id=call.id, command="hangup")

    run = run_calls(
        db,
        owners,
        tmp_path,
        phones=phones,
        callers=[(0.0, caller, f.did)],
        actions=[
            (10.0, holding("hold")),
            (15.0, holding("unhold")),
            (20.0, holding("transfer", f.queues["loans"])),
            (30.0, strangers),
        ],
        seconds=90,
    )

    assert run.switchboard.stats.connected == 2
    ((row, legs),) = interactions(db, f.tenant_id)
    assert [(leg.party, leg.agent_id) for leg in legs] == [("customer", None), ("agent", fay), ("agent", gus)]
    assert row.queue_id == f.queues["loans"]  # where the call ended up
    assert row.hold_ms == 5000
    # fay talked from her answer at 1 s to the transfer at 20 s, minus 5 s on hold; gus from 22 s to 60 s.
    assert legs[1].billable_ms == 19000 and legs[2].billable_ms == 38000
    assert row.talk_ms == 19000 - 5000 + 38000
    states = {a: f.owner.router.agents[a].state for a in (fay, gus)}
    assert states == {fay: S.WRAP_UP, gus: S.WRAP_UP}


def test_the_agent_hangs_up_from_the_desk(db: Database, world: World, tmp_path: Path) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"hal": True}, entry="queue")
    hal = f.agents["hal"]
    ready(db, f, hal)

    async def hang_up(board: Switchboard) -> None:
        call = f.owner.router.agents[hal].call
        assert call is not None
        await board.control(tenant_id=f.tenant_id, agent_id=hal, call_id=call.id, command="hangup")
        with pytest.raises(Conflict):  # the call is over
            await board.control(tenant_id=f.tenant_id, agent_id=hal, call_id=call.id, command="hold")

    run = run_calls(
        db,
        owners,
        tmp_path,
        phones={"hal": FarEnd(answer_after=1.0, hangup_after=None)},
        callers=[(0.0, FarEnd(hangup_after=None), f.did)],
        actions=[(8.0, hang_up)],
        seconds=30,
    )
    assert run.switchboard.stats.connected == 1
    ((row, legs),) = interactions(db, f.tenant_id)
    assert row.status == "ended" and row.talk_ms == 7000
    assert all(leg.ended_at is not None for leg in legs)
    assert f.owner.router.agents[hal].state is S.WRAP_UP


def test_a_supervisor_listens_then_barges_in_on_the_supervisors_phone(
    db: Database, world: World, tmp_path: Path
) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"ivy": True, "sam": True}, entry="queue", skills={"sam": {"loans": 1}})
    ivy, sam = f.agents["ivy"], f.agents["sam"]  # sam stays logged out: a supervisor, never offered a call
    ready(db, f, ivy)

    def supervise(mode: str) -> Callable[[Switchboard], Awaitable[None]]:
        async def act(board: Switchboard) -> None:
            call = f.owner.connected_call(ivy)
            assert call is not None
            await board.monitor(tenant_id=f.tenant_id, supervisor_id=sam, agent_id=ivy, call_id=call, mode=mode)

        return act

    async def nobody_else(board: Switchboard) -> None:
        call = f.owner.connected_call(ivy)
        assert call is not None
        with pytest.raises(NotFound):  # another agent named: no live call of that agent
            await board.monitor(tenant_id=f.tenant_id, supervisor_id=sam, agent_id=sam, call_id=call, mode="listen")

    run = run_calls(
        db,
        owners,
        tmp_path,
        phones={"ivy": FarEnd(answer_after=1.0, hangup_after=None), "sam": FarEnd(answer_after=2.0, hangup_after=None)},
        callers=[(0.0, FarEnd(hangup_after=40.0), f.did)],
        actions=[(10.0, supervise("listen")), (20.0, supervise("barge")), (25.0, nobody_else)],
        seconds=60,
    )

    monitors = [e for e in run.events if isinstance(e, MonitorStarted)]
    assert [e.mode.value for e in monitors] == ["listen", "barge"]
    assert run.switchboard.stats.connected == 1
    ((row, legs),) = interactions(db, f.tenant_id)
    supervisor = [leg for leg in legs if leg.party == "supervisor"]
    assert len(supervisor) == 1 and supervisor[0].agent_id == sam
    assert supervisor[0].monitor_mode == "barge" and supervisor[0].ended_at is not None  # hung up with the call
    assert row.status == "ended"


def test_the_screen_pop_names_the_caller_on_file(db: Database, world: World, tmp_path: Path) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"jo": True}, entry="queue")
    ready(db, f, f.agents["jo"])
    stored = store_contact(db, f.slug)  # the customer's number is the caller's
    seen: list[uuid.UUID | None] = []

    def ringing(_: Switchboard) -> None:
        seen.extend(info.contact_id for info in f.owner.calls.values())

    run_calls(
        db,
        owners,
        tmp_path,
        phones={"jo": FarEnd(answer_after=10.0, hangup_after=5.0)},
        callers=[(0.0, FarEnd(hangup_after=None), f.did)],
        actions=[(3.0, ringing)],
        seconds=30,
        caller_uri=f"sip:{PHONE}@pstn",
    )
    assert seen == [stored.contact_id]


def test_a_caller_not_on_file_pops_without_a_contact(db: Database, world: World, tmp_path: Path) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"kim": True}, entry="queue")
    ready(db, f, f.agents["kim"])
    store_contact(db, f.slug)
    seen: list[uuid.UUID | None] = []
    run_calls(
        db,
        owners,
        tmp_path,
        phones={"kim": FarEnd(answer_after=10.0, hangup_after=5.0)},
        callers=[(0.0, FarEnd(hangup_after=None), f.did)],
        actions=[(3.0, lambda _: seen.extend(i.contact_id for i in f.owner.calls.values()))],
        seconds=30,
        caller_uri="sip:anonymous@pstn",
    )
    assert seen == [None]


def test_the_agent_transfers_the_caller_to_a_named_agent(db: Database, world: World, tmp_path: Path) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"lea": True, "max": True, "ned": True}, entry="queue")
    lea, max_, ned = f.agents["lea"], f.agents["max"], f.agents["ned"]
    ready(db, f, lea)  # only lea takes the first offer; max and ned become ready later

    def transfer(to: uuid.UUID, expect: type[Exception] | None = None) -> Callable[[Switchboard], Awaitable[None]]:
        async def act(board: Switchboard) -> None:
            call = f.owner.connected_call(lea)
            assert call is not None
            if expect is None:
                await board.control(tenant_id=f.tenant_id, agent_id=lea, call_id=call, command="transfer", to_agent=to)
            else:
                with pytest.raises(expect):
                    await board.control(
                        tenant_id=f.tenant_id, agent_id=lea, call_id=call, command="transfer", to_agent=to
                    )
                assert f.owner.connected_call(lea) == call  # refused: the call stays with lea

        return act

    run = run_calls(
        db,
        owners,
        tmp_path,
        phones={n: FarEnd(answer_after=1.0, hangup_after=None) for n in ("lea", "max", "ned")},
        callers=[(0.0, FarEnd(hangup_after=40.0), f.did)],
        actions=[
            (5.0, transfer(max_, Conflict)),  # max is logged out
            (6.0, transfer(uuid.uuid4(), NotFound)),
            (7.0, lambda _: ready(db, f, max_)),
            (8.0, lambda _: ready(db, f, ned)),
            (10.0, transfer(ned)),
        ],
        seconds=60,
    )

    assert run.switchboard.stats.connected == 2
    ((_row, legs),) = interactions(db, f.tenant_id)
    assert [(leg.party, leg.agent_id) for leg in legs] == [("customer", None), ("agent", lea), ("agent", ned)]
    assert legs[2].billable_ms == 29000  # ned answered at 11 s, the caller hung up at 40 s
    states = {a: f.owner.router.agents[a].state for a in (lea, max_, ned)}
    assert states == {lea: S.WRAP_UP, max_: S.READY, ned: S.WRAP_UP}  # max, ready too, never rang


def test_a_named_agent_who_does_not_answer_sends_the_caller_to_the_front_of_its_queue(
    db: Database, world: World, tmp_path: Path
) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"ola": True, "pat": True}, entry="queue")
    ola, pat = f.agents["ola"], f.agents["pat"]
    ready(db, f, ola)

    async def to_pat(board: Switchboard) -> None:
        call = f.owner.connected_call(ola)
        assert call is not None
        await board.control(tenant_id=f.tenant_id, agent_id=ola, call_id=call, command="transfer", to_agent=pat)

    def ola_back(_: Switchboard) -> None:
        with db.scoped() as session:
            set_tenant(session, f.tenant_id)
            f.owner.end_wrap_up(session, actor=f.actor, agent_id=ola, disposition="x", then=S.READY, reason="")

    run = run_calls(
        db,
        owners,
        tmp_path,
        phones={"ola": FarEnd(answer_after=1.0, hangup_after=None), "pat": FarEnd(answer_after=1.0, reject_code=486)},
        callers=[(0.0, FarEnd(hangup_after=60.0), f.did)],
        actions=[(4.0, lambda _: ready(db, f, pat)), (5.0, to_pat), (20.0, ola_back)],
        seconds=90,
    )

    # pat's phone was busy: pat is paused (ring-no-answer), the caller waited at the front of "cards" and ola,
    # back from wrap-up, took the call again.
    assert run.switchboard.stats.connected == 2
    assert f.owner.router.agents[pat].state is S.PAUSED
    ((_row, legs),) = interactions(db, f.tenant_id)
    assert [(leg.party, leg.agent_id, leg.hangup_cause) for leg in legs] == [
        ("customer", None, "normal"),
        ("agent", ola, "normal"),
        ("agent", pat, "busy"),
        ("agent", ola, "normal"),
    ]
    assert "requeued" in decisions(db, f.tenant_id)
