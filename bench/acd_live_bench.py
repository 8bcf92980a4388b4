"""What the app-process routing owner costs: decisions a second through `TenantOwner` (lock, write through
`record_routing` after every operation, publish) next to the bare router with the background batch writer, and
the time of one live-statistics snapshot (as the wallboard stream sends it) on a large floor.

    .venv/bin/python -m bench.acd_live_bench --calls 1500 --sync-calls 100 --agents 1000 --skills 50
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from callvault.acd.bench import _tenant_database, build
from callvault.acd.decision_log import DecisionWriter
from callvault.acd.live_stats import DayStats, capture, render
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.acd.router import Offer, Router
from callvault.config import get_settings
from callvault.security.vault import MasterKey


def _cycle_owner(owner: TenantOwner, queues: list[uuid.UUID], calls: int, *, offset: int) -> tuple[float, int]:
    """Each call: enqueue, answer, hang up, end wrap-up; every operation through the owner."""
    start = time.perf_counter()
    decisions = 0
    for i in range(calls):
        call = uuid.UUID(int=offset + i + 1)
        offers = owner.enqueue(call, queue_id=queues[i % len(queues)])
        decisions += len(offers)
        for offer in offers:
            owner.accept(agent_id=offer.agent_id, call_id=offer.call_id)
            owner.finish_call(offer.call_id)
            owner.run(lambda r, now, a=offer.agent_id: r.end_wrap_up(a, disposition="done", now=now))
    return time.perf_counter() - start, decisions


def _cycle_router(router: Router, writer: DecisionWriter, queues: list[uuid.UUID], calls: int) -> tuple[float, int]:
    start = time.perf_counter()
    decisions = 0
    now = time.time()
    for i in range(calls):
        call = uuid.UUID(int=i + 1)
        offers: list[Offer] = router.enqueue(call, queue_id=queues[i % len(queues)], now=now)
        decisions += len(offers)
        for offer in offers:
            router.accept(offer.call_id, now=now)
            router.finish_call(offer.call_id, now=now)
            router.end_wrap_up(offer.agent_id, disposition="done", now=now)
    writer.stop()  # the clock stops once the last row is committed
    return time.perf_counter() - start, decisions


def _ready_all(router: Router, agents: list[uuid.UUID]) -> None:
    for aid in agents:
        router.agent_ready(aid, now=time.time())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--sync-calls", type=int, default=100)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--skills", type=int, default=50)
    parser.add_argument("--floor-agents", type=int, default=10000)
    parser.add_argument("--floor-skills", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="callvault-bench-acd-live-") as tmp:
        if "CALLVAULT_MASTER_KEY_FILE" not in os.environ:  # a throw-away installation needs a key of its own
            MasterKey.generate_to(Path(tmp) / "master.key")
            os.environ["CALLVAULT_MASTER_KEY_FILE"] = str(Path(tmp) / "master.key")
            get_settings.cache_clear()
        db, tenant_id, slug = _tenant_database(Path(tmp))
        owners = AcdOwners(db, tick_seconds=0)
        owner = owners.of(tenant_id, slug)
        queues, agents = build(owner.router, agents=args.agents, skills=args.skills, seed=7)
        owner.run(lambda r, _now: _ready_all(r, agents))
        seconds, decisions = _cycle_owner(owner, queues, args.sync_calls, offset=0)
        rows.append(("owner, no background writer", decisions, seconds))
        owners.start()  # as in the app: one background thread writes every owner's log in batches
        start = time.perf_counter()
        _, decisions = _cycle_owner(owner, queues, args.calls, offset=args.sync_calls)
        owners.stop()  # the clock stops once the last row is committed
        rows.append(("owner + background batch writer (app)", decisions, time.perf_counter() - start))

        router = Router(first_seq=10_000_000)
        queues, agents = build(router, agents=args.agents, skills=args.skills, seed=7)
        _ready_all(router, agents)
        writer = DecisionWriter(db, router=router, tenant_id=tenant_id, tenant_slug=slug)
        writer.flush()
        writer.start()
        seconds, decisions = _cycle_router(router, writer, queues, args.calls)
        rows.append(("baseline: bare router + batch writer", decisions, seconds))
        db.dispose()

    floor = Router()
    build(floor, agents=args.floor_agents, skills=args.floor_skills, seed=7)
    _ready_all(floor, list(floor.agents)[: args.floor_agents // 2])
    day = DayStats(datetime.now(UTC).date())
    held, rendered, size = [], [], 0
    for _ in range(15):
        start = time.perf_counter()
        raw = capture(floor, day, now=time.time())
        taken = time.perf_counter()
        body = json.dumps(render(raw), separators=(",", ":"))
        held.append(taken - start)
        rendered.append(time.perf_counter() - taken)
        size = len(body)

    load = os.getloadavg()[0]
    print(f"{'path':40} {'offers':>7} {'seconds':>8} {'offers/s':>9}")
    for name, decisions, seconds in rows:
        print(f"{name:40} {decisions:7d} {seconds:8.2f} {decisions / seconds:9.0f}")
    ratio = (rows[2][1] / rows[2][2]) / (rows[1][1] / rows[1][2])
    print(f"baseline / owner (app) throughput: {ratio:.2f}x")
    print(
        f"stats snapshot, {args.floor_agents} agents / {args.floor_skills} queues: median "
        f"{statistics.median(held) * 1000:.1f} ms under the owner's lock + "
        f"{statistics.median(rendered) * 1000:.1f} ms outside it, {size / 1024:.0f} KiB JSON"
    )
    print(f"load average (1 min): {load:.2f}")


if __name__ == "__main__":
    main()
