"""Where one order of the signed trigger API spends its CPU: sequential in-process requests, profiled or timed.

    .venv/bin/python -m bench.trigger_profile [--requests 200] [--profile] [--top 40] [--sort cumulative]

Sets up a fresh installation exactly as `callvault bench trigger` does (SQLite file in a temporary directory, or
the PostgreSQL database named by --database-url / --database-admin-url), then sends signed
``POST /api/v1/calls/trigger`` requests one after the other through the real app (Starlette's test client: the
event loop and the worker threads run in this process, as under uvicorn).

Without --profile it prints per request: wall time, CPU of the server threads (event loop and worker threads,
from their thread CPU clocks, the client's signing excluded), CPU of the whole process, SQL statements and commits.
With --profile every server thread runs under cProfile and the merged top functions are printed (profiled times
are inflated; the call counts are exact).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

TRIGGER_PATH = "/api/v1/calls/trigger"


class ServerThreads:
    """CPU clocks and, when profiling, one cProfile per thread other than the caller's (the client's)."""

    def __init__(self, *, profile: bool) -> None:
        self.profile = profile
        self.profilers: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._main = threading.get_ident()

    def install(self) -> None:
        if self.profile:
            # Runs as the first profile event of every new thread: replaced there by that thread's own profiler.
            threading.setprofile(self._start_thread_profiler)

    def _start_thread_profiler(self, *_: Any) -> None:
        prof = cProfile.Profile()
        with self._lock:
            self.profilers.append(prof)
        prof.enable()

    def cpu_seconds(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for thread in threading.enumerate():
            if thread.ident is None or thread.ident == self._main:
                continue
            try:
                out[thread.ident] = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
            except (OSError, ProcessLookupError):
                continue
        return out

    def stats(self) -> pstats.Stats:
        threading.setprofile(None)  # type: ignore[arg-type]
        for prof in self.profilers:
            prof.snapshot_stats()  # type: ignore[attr-defined]
        stats = pstats.Stats(self.profilers[0])
        for prof in self.profilers[1:]:
            stats.add(prof)
        return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="run the server threads under cProfile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime, ncalls)")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--database-admin-url", default="")
    parser.add_argument("--json", action="store_true", help="print the timing figures as JSON")
    parser.add_argument("--statements", action="store_true", help="print the SQL statements of the last request")
    args = parser.parse_args(argv)

    from sqlalchemy import event

    from callvault.trigger.bench import _body, _setup

    threads = ServerThreads(profile=args.profile)
    with tempfile.TemporaryDirectory(prefix="callvault-trigger-profile-") as scratch:
        creds = _setup(Path(scratch), database_url=args.database_url, database_admin_url=args.database_admin_url)

        from fastapi.testclient import TestClient

        from callvault.config import get_settings
        from callvault.identity.api_clients import signed_headers
        from callvault.main import create_app

        app = create_app(get_settings())
        counts = {"statements": 0, "commits": 0}
        last: list[str] = []

        @event.listens_for(app.state.db.engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            counts["statements"] += 1
            last.append(" ".join(statement.split())[:400])

        @event.listens_for(app.state.db.engine, "commit")
        def _commit(*_: Any) -> None:
            counts["commits"] += 1

        def send(client: TestClient, i: int) -> None:
            body = _body(i)
            headers = signed_headers(
                key_id=creds["key_id"], secret=creds["secret"], method="POST", path=TRIGGER_PATH, body=body
            )
            headers["content-type"] = "application/json"
            headers["Idempotency-Key"] = uuid.uuid4().hex
            last.clear()
            r = client.post(TRIGGER_PATH, content=body, headers=headers)
            if r.status_code != 202:
                raise SystemExit(f"request {i}: HTTP {r.status_code} {r.text}")

        threads.install()
        with TestClient(app) as client:
            for i in range(args.warmup):
                send(client, -1 - i)
            counts.update(statements=0, commits=0)
            before_threads, before_proc, before_wall = threads.cpu_seconds(), time.process_time(), time.perf_counter()
            for i in range(args.requests):
                send(client, i)
            wall = time.perf_counter() - before_wall
            proc = time.process_time() - before_proc
            after_threads = threads.cpu_seconds()
            server = sum(t - before_threads.get(ident, 0.0) for ident, t in after_threads.items())
        n = args.requests
        figures = {
            "database": "postgresql" if args.database_url.startswith("postgresql") else "sqlite",
            "requests": n,
            "profiled": args.profile,
            "wall_ms_per_request": round(wall * 1000 / n, 2),
            "server_cpu_ms_per_request": round(server * 1000 / n, 2),
            "process_cpu_ms_per_request": round(proc * 1000 / n, 2),
            "sql_statements_per_request": round(counts["statements"] / n, 2),
            "commits_per_request": round(counts["commits"] / n, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        if args.json:
            print(json.dumps(figures))
        else:
            for key, value in figures.items():
                print(f"{key:32} {value}")
        if args.statements:
            print(f"\nSQL of the last request ({len(last)} statements, the relay's marking included):")
            for i, statement in enumerate(last, 1):
                print(f"{i:3} {statement}")
        if args.profile:
            print()
            stats = threads.stats()
            stats.sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
