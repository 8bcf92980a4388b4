"""`callvault bench trigger`: the trigger API under an open-loop load next to a bare FastAPI endpoint.

Both servers run as uvicorn processes on loopback (the real app on a SQLite file in a temporary directory, with
an institution, an API client, its webhook secret and a published flow); the load generator in this process sends
signed ``POST /api/v1/calls/trigger`` requests (fresh nonce and Idempotency-Key each) at a fixed rate, and the same
JSON body unsigned to the bare endpoint. Latency is measured from each request's *scheduled* send time, so a server
that falls behind is charged for the queue it builds (no coordinated omission). A request unanswered after 10 s
counts as an error; one refused by overload control (503) is counted apart.

With ``processes`` > 1 each side runs that many server processes, each on its own port, and the load generator
sends request i to process i mod N (round robin, as a load balancer in front of them would); the bare endpoint
gets as many processes as the app, so the ratio compares like with like.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

TRIGGER_PATH = "/api/v1/calls/trigger"
BARE_PATH = "/bare/trigger"


@dataclass
class LoadResult:
    name: str
    sent: int
    ok: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    error_kinds: dict[str, int]
    refused: int = 0  # 503 from overload control: answered at once, nothing stored, to be retried
    refused_p50_ms: float = 0.0
    # How late the load generator itself sent (due time to send): above a few ms the machine, not the server,
    # is limiting the figures.
    send_lag_p50_ms: float = 0.0
    send_lag_p99_ms: float = 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bare_app() -> Any:
    """The baseline: a FastAPI endpoint parsing a similar body and answering 202, nothing else."""
    from fastapi import FastAPI, status

    app = FastAPI()

    @app.post(BARE_PATH, status_code=status.HTTP_202_ACCEPTED)
    def trigger(order: BareOrder) -> dict[str, str]:
        return {"id": str(uuid.uuid4()), "status": "accepted", "reference": order.reference}

    return app


class BareOrder(BaseModel):
    purpose: str
    phone: str
    flow: str
    variables: dict[str, str]
    deadline: str
    callback_url: str
    reference: str


def serve(which: str, port: int) -> None:
    """Entry point of a server process (``which``: callvault or bare)."""
    import uvicorn

    if which == "bare":
        app = bare_app()
    else:
        from callvault.config import get_settings
        from callvault.main import create_app

        app = create_app(get_settings())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _setup(data_dir: Path, *, database_url: str = "", database_admin_url: str = "") -> dict[str, str]:
    """A fresh installation with one institution ready to order calls; returns the API client's credentials.

    SQLite in `data_dir` unless `database_url` names an existing PostgreSQL database (migrated here through
    `database_admin_url`, the schema owner; a new institution each run, so the database can be reused)."""
    from callvault.config import get_settings
    from callvault.core.db import Database
    from callvault.identity import api_clients
    from callvault.identity.schemas import ApiClientCreate
    from callvault.ivr import service as ivr
    from callvault.ivr.flow import parse_document
    from callvault.ivr.schemas import FlowCreate
    from callvault.migrations.runner import upgrade
    from callvault.security.principal import system_principal
    from callvault.security.vault import MasterKey
    from callvault.security.vault import runtime as vault_runtime
    from callvault.tenancy import service as tenancy
    from callvault.tenancy.schemas import TenantCreate
    from callvault.webhooks import service as webhooks

    os.environ["CALLVAULT_DATA_DIR"] = str(data_dir)
    # The benchmark measures the API; at scale the background services run in their own worker processes.
    os.environ["CALLVAULT_SERVICES"] = "false"
    os.environ["CALLVAULT_MASTER_KEY_FILE"] = str(data_dir / "master.key")
    os.environ["CALLVAULT_LOG_LEVEL"] = "warning"
    for name, value in (
        ("CALLVAULT_DATABASE_URL", database_url),
        ("CALLVAULT_DATABASE_ADMIN_URL", database_admin_url or database_url),
    ):
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    get_settings.cache_clear()
    settings = get_settings()
    MasterKey.generate_to(data_dir / "master.key")
    vault_runtime.reset()
    upgrade(settings)
    db = Database(settings)
    with db.scoped() as session:
        read = tenancy.create_tenant(
            session,
            actor=tenancy.operator_principal(session),
            data=TenantCreate(slug=f"bench-{uuid.uuid4().hex[:8]}", name="Bench Bank"),
        )
        actor = system_principal(tenant_id=read.id, tenant_slug=read.slug, tenant_kind=read.kind, name="bench")
        tenancy.bind(session, slug=read.slug)
        client = api_clients.create_client(
            session, actor=actor, data=ApiClientCreate(name="core-banking", permissions=["call.trigger"])
        )
        webhooks.rotate_secret(session, actor=actor, api_client_id=client.id)
        flow = ivr.create_flow(session, actor=actor, data=FlowCreate(name="verify-payment", entry_point="out-verify"))
        document = {
            "start": "ask",
            "inputs": ["amount"],
            "nodes": {
                "ask": {
                    "type": "menu",
                    "prompt": {"say": "{amount}"},
                    "options": {"1": "bye"},
                    "on_invalid": "bye",
                },
                "bye": {"type": "hangup"},
            },
        }
        ivr.save_draft(session, actor=actor, flow_id=flow.id, document=parse_document(document))
        ivr.publish(session, actor=actor, flow_id=flow.id, prompt_exists=lambda _: True)
    db.dispose()
    return {"key_id": client.key_id, "secret": client.secret}


def _body(i: int) -> bytes:
    from callvault.core import clock

    return json.dumps(
        {
            "purpose": "verification",
            "phone": f"1380013{i % 10000:04d}",
            "flow": "verify-payment",
            "variables": {"amount": "1999.00"},
            "deadline": (clock.now() + timedelta(minutes=10)).isoformat(),
            "callback_url": "https://bank.example/hooks/calls",
            "reference": f"txn-{i}",
        }
    ).encode()


def _start(which: str, port: int, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    code = f"from callvault.trigger.bench import serve; serve({which!r}, {port})"
    return subprocess.Popen(  # noqa: S603 - this interpreter running this module
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=log
    )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


async def _load(name: str, urls: list[str], make: Any, *, rate: float, seconds: float, warmup: int) -> LoadResult:
    """Open loop: request i is due at start + i/rate, sent to urls[i mod len(urls)]; its latency counts from then."""
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(limits=limits, timeout=10.0, trust_env=False) as http:
        for i in range(warmup * len(urls)):  # caches warm, first connections open, in every process
            body, headers = make(-1 - i)
            await http.post(urls[i % len(urls)], content=body, headers=headers)
        total = int(rate * seconds)
        latencies: list[float] = []
        refusals: list[float] = []
        lags: list[float] = []
        kinds: dict[str, int] = {}
        start = time.perf_counter() + 0.05

        async def one(i: int) -> None:
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body, headers = make(i)
            lags.append(time.perf_counter() - due)
            try:
                r = await http.post(urls[i % len(urls)], content=body, headers=headers)
                if r.status_code == 202:
                    latencies.append(time.perf_counter() - due)
                elif r.status_code == 503 and "retry-after" in r.headers:
                    refusals.append(time.perf_counter() - due)
                else:
                    kind = f"HTTP {r.status_code}"
                    kinds[kind] = kinds.get(kind, 0) + 1
            except httpx.HTTPError as exc:
                kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    lags.sort()
    ms = [x * 1000 for x in latencies] or [0.0]
    return LoadResult(
        name=name,
        sent=total,
        ok=len(latencies),
        errors=sum(kinds.values()),
        seconds=round(elapsed, 2),
        throughput=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(ms), 2),
        p99_ms=round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        max_ms=round(ms[-1], 2),
        error_kinds=kinds,
        refused=len(refusals),
        refused_p50_ms=round(statistics.median(refusals) * 1000, 2) if refusals else 0.0,
        send_lag_p50_ms=round(statistics.median(lags) * 1000, 2),
        send_lag_p99_ms=round(lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000, 2),
    )


def run_benchmark(
    *,
    rate: float,
    seconds: float,
    warmup: int = 20,
    database_url: str = "",
    database_admin_url: str = "",
    processes: int = 1,
    max_in_flight: int | None = None,
) -> dict[str, Any]:
    """`processes` server processes per side; `max_in_flight`: the app's CALLVAULT_TRIGGER_MAX_IN_FLIGHT per
    process (None: its default)."""
    from callvault.config import get_settings
    from callvault.identity.api_clients import signed_headers

    with tempfile.TemporaryDirectory(prefix="callvault-bench-trigger-") as scratch:
        creds = _setup(Path(scratch), database_url=database_url, database_admin_url=database_admin_url)
        env = dict(os.environ)
        if max_in_flight is not None:
            env["CALLVAULT_TRIGGER_MAX_IN_FLIGHT"] = str(max_in_flight)
        limit = max_in_flight if max_in_flight is not None else get_settings().trigger_max_in_flight
        ours_ports = [_free_port() for _ in range(processes)]
        bare_ports = [_free_port() for _ in range(processes)]
        log = open(Path(scratch) / "servers.log", "wb")  # noqa: SIM115 - closed with the servers
        procs = [_start("callvault", port, env, log) for port in ours_ports]
        procs += [_start("bare", port, env, log) for port in bare_ports]
        try:
            for port, proc in zip(ours_ports + bare_ports, procs, strict=True):
                _wait_ready(port, proc)
            load_before = os.getloadavg()  # other work on the machine, before this run's load

            def signed(i: int) -> tuple[bytes, dict[str, str]]:
                body = _body(i)
                headers = signed_headers(
                    key_id=creds["key_id"], secret=creds["secret"], method="POST", path=TRIGGER_PATH, body=body
                )
                headers["content-type"] = "application/json"
                headers["Idempotency-Key"] = uuid.uuid4().hex
                return body, headers

            def plain(i: int) -> tuple[bytes, dict[str, str]]:
                return _body(i), {"content-type": "application/json"}

            bare = asyncio.run(
                _load(
                    "bare FastAPI",
                    [f"http://127.0.0.1:{port}{BARE_PATH}" for port in bare_ports],
                    plain,
                    rate=rate,
                    seconds=seconds,
                    warmup=warmup,
                )
            )
            ours = asyncio.run(
                _load(
                    "CallVault trigger",
                    [f"http://127.0.0.1:{port}{TRIGGER_PATH}" for port in ours_ports],
                    signed,
                    rate=rate,
                    seconds=seconds,
                    warmup=warmup,
                )
            )
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()  # still draining a backlog: the figures are taken already
                    proc.wait()
            log.close()
            errors = (Path(scratch) / "servers.log").read_text(errors="replace")
    return {
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "rate": rate,
        "seconds": seconds,
        "processes": processes,
        "max_in_flight_per_process": limit,
        "load_average_before": [round(x, 2) for x in load_before],
        "ours": asdict(ours),
        "bare": asdict(bare),
        "throughput_ratio": round(ours.throughput / bare.throughput, 3) if bare.throughput else 0.0,
        "goal": {"throughput_ratio": 0.5, "p99_ms": 25.0},
        "server_log_tail": errors[-2000:],
    }
