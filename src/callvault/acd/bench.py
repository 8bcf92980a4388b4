"""`callvault bench acd`: routing decisions per second and per-decision latency at contact-center scale.

The loop keeps a busy contact center in steady state: every step a new caller arrives in a random queue (one in
ten is a VIP) and a random connected call ends (wrap-up, then ready), and a few waiting callers hang up. Each
operation runs on the routing owner and is followed by the batched decision writer, so the measured time holds
routing, the state store and the database writes (SQLite file, synchronous=FULL) with their outbox events.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from callvault.acd.baseline import LinearScanRouter
from callvault.acd.decision_log import DecisionWriter
from callvault.acd.router import Offer, Router
from callvault.acd.routing_queue import QueueConfig, Strategy
from callvault.config import Settings, get_settings
from callvault.core.db import Database
from callvault.migrations.runner import upgrade
from callvault.security.vault import MasterKey
from callvault.security.vault import runtime as vault_runtime
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantCreate

STRATEGIES = (Strategy.LONGEST_IDLE, Strategy.MOST_SKILLED, Strategy.ROUND_ROBIN)


@dataclass(frozen=True)
class BenchResult:
    router: str
    agents: int
    skills: int
    decisions: int
    seconds: float
    cpu_seconds: float
    decisions_per_second: float
    decisions_per_cpu_second: float
    p50_ms: float
    p99_ms: float
    rows_written: int
    batches: int


def build(router: Router, *, agents: int, skills: int, seed: int) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """One queue per skill (minimum level 1..3, strategies in turn); each agent has 1..4 skills at 1..10."""
    rng = random.Random(seed)  # noqa: S311 -- simulated traffic
    names = [f"skill{i:03d}" for i in range(skills)]
    queue_ids = []
    for i, name in enumerate(names):
        qid = uuid.UUID(int=rng.getrandbits(128))
        config = QueueConfig(
            id=qid, name=name, requirements={name: rng.randint(1, 3)}, strategy=STRATEGIES[i % 3], wrap_up_seconds=0
        )
        router.upsert_queue(config, now=0.0)
        queue_ids.append(qid)
    agent_ids = []
    for _ in range(agents):
        aid = uuid.UUID(int=rng.getrandbits(128))
        chosen = rng.sample(names, rng.randint(1, min(4, skills)))
        router.upsert_agent(aid, skills={s: rng.randint(1, 10) for s in chosen}, blended=False, now=0.0)
        agent_ids.append(aid)
    return queue_ids, agent_ids


def _tenant_database(directory: Path) -> tuple[Database, uuid.UUID, str]:
    settings = Settings(data_dir=directory, database_url=f"sqlite+pysqlite:///{directory}/bench.sqlite3")
    upgrade(settings)
    db = Database(settings)
    with db.scoped() as session:
        read = tenancy.create_tenant(
            session, actor=tenancy.operator_principal(session), data=TenantCreate(slug="benchbank", name="Bench Bank")
        )
    return db, read.id, read.slug


def run(
    router: Router,
    *,
    name: str,
    agents: int,
    skills: int,
    decisions: int,
    seed: int,
    db: Database,
    tenant: uuid.UUID,
    write_log: bool = True,
) -> BenchResult:
    """Drive `router` until it has made `decisions` offers; return throughput and latency. Without `write_log`
    the decisions are dropped instead of written, which shows what routing alone costs."""
    rng = random.Random(seed + 1)  # noqa: S311 -- simulated traffic
    queue_ids, agent_ids = build(router, agents=agents, skills=skills, seed=seed)
    writer = DecisionWriter(db, router=router, tenant_id=tenant, tenant_slug="benchbank", max_delay_seconds=0.1)
    clock = 1_800_000_000.0
    for aid in agent_ids:
        router.agent_ready(aid, now=clock)
    connected: list[uuid.UUID] = []
    waiting: list[uuid.UUID] = []

    def answer(offers: list[Offer]) -> None:
        for offer in offers:
            router.accept(offer.call_id, now=clock)
            connected.append(offer.call_id)

    # Fill the floor to about 95 % busy before measuring, so routing works against a realistic idle pool.
    while len(connected) < agents * 0.95:
        cid = uuid.UUID(int=rng.getrandbits(128))
        offers = router.enqueue(cid, queue_id=rng.choice(queue_ids), now=clock)
        if not offers:
            waiting.append(cid)
        answer(offers)
    writer.flush()
    # Traffic is drawn up front so the timed loop holds only the owner's work and the log writing.
    steps = decisions * 2
    arrivals = [
        (uuid.UUID(int=rng.getrandbits(128)), rng.choice(queue_ids), 5 if rng.random() < 0.1 else 0)
        for _ in range(steps)
    ]
    picks = [rng.random() for _ in range(steps)]
    latencies: list[int] = []
    made = 0
    perf = time.perf_counter_ns
    if write_log:
        writer.start()
    started, cpu_started = perf(), time.process_time()
    for step in range(steps):
        if made >= decisions:
            break
        clock += 0.01
        cid, qid, priority = arrivals[step]
        t0 = perf()
        offers = router.enqueue(cid, queue_id=qid, priority=priority, now=clock)
        t1 = perf()
        if offers:
            latencies.append(t1 - t0)
            made += len(offers)
        else:
            waiting.append(cid)
        answer(offers)
        if connected:
            i = int(picks[step] * len(connected))
            connected[i], connected[-1] = connected[-1], connected[i]
            ended = connected.pop()
            router.finish_call(ended, now=clock)
            agent = router.state_changes[-1].agent_id
            t0 = perf()
            offers = router.end_wrap_up(agent, disposition="done", now=clock)
            t1 = perf()
            if offers:
                latencies.append(t1 - t0)
                made += len(offers)
            answer(offers)
        if waiting and picks[step] < 0.05:
            router.abandon(waiting.pop(), now=clock)
        if not write_log and len(router.state_changes) > 8192:
            router.decisions.clear()
            router.state_changes.clear()
    if write_log:
        writer.stop()  # the run ends when the last decision is on disk
    seconds = (perf() - started) / 1e9
    cpu = time.process_time() - cpu_started
    ordered = sorted(latencies)
    return BenchResult(
        router=name,
        agents=agents,
        skills=skills,
        decisions=made,
        seconds=round(seconds, 3),
        cpu_seconds=round(cpu, 3),
        decisions_per_second=round(made / seconds, 1),
        decisions_per_cpu_second=round(made / cpu, 1),
        p50_ms=round(statistics.median(ordered) / 1e6, 4),
        p99_ms=round(ordered[int(len(ordered) * 0.99)] / 1e6, 4),
        rows_written=writer.rows,
        batches=writer.batches,
    )


def compare(*, agents: int, skills: int, decisions: int, baseline_decisions: int, seed: int) -> list[BenchResult]:
    """The indexed router and the linear-scan baseline in the same run, each on a fresh SQLite file, with the
    log written and (to show routing alone) with decisions dropped."""
    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="callvault-bench-acd-key-") as keys:
        own_key = "CALLVAULT_MASTER_KEY_FILE" not in os.environ  # a throw-away installation needs a key of its own
        if own_key:
            MasterKey.generate_to(Path(keys) / "master.key")
            os.environ["CALLVAULT_MASTER_KEY_FILE"] = str(Path(keys) / "master.key")
            get_settings.cache_clear()
            vault_runtime.reset()
        try:
            _compare(
                results,
                agents=agents,
                skills=skills,
                decisions=decisions,
                baseline_decisions=baseline_decisions,
                seed=seed,
            )
        finally:
            if own_key:
                os.environ.pop("CALLVAULT_MASTER_KEY_FILE", None)
                get_settings.cache_clear()
                vault_runtime.reset()
    return results


def _compare(
    results: list[BenchResult], *, agents: int, skills: int, decisions: int, baseline_decisions: int, seed: int
) -> None:
    for name, cls, count, write_log in (
        ("indexed", Router, decisions, True),
        ("linear-scan baseline", LinearScanRouter, baseline_decisions, True),
        ("indexed, no log", Router, decisions, False),
        ("linear-scan, no log", LinearScanRouter, baseline_decisions, False),
    ):
        with tempfile.TemporaryDirectory(prefix="callvault-bench-acd-") as tmp:
            db, tenant_id, _ = _tenant_database(Path(tmp))
            try:
                results.append(
                    run(
                        cls(),
                        name=name,
                        agents=agents,
                        skills=skills,
                        decisions=count,
                        seed=seed,
                        db=db,
                        tenant=tenant_id,
                        write_log=write_log,
                    )
                )
            finally:
                db.dispose()
