"""`callvault demo`: a seeded operator with two institutions, a user for every role and a contact-center floor each
(queues, IVR flow, care list, campaign; `demo_floor`), served on :8000 with simulated traffic (`demo_load`)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.config import get_settings
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.demo_floor import BANK, INSURER, FloorPlan, FloorSummary, seed_floor
from callvault.identity import api_clients, auth
from callvault.identity import service as identity
from callvault.identity.models import Role
from callvault.identity.schemas import ApiClientCreate, UserCreate
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate
from callvault.migrations.runner import upgrade
from callvault.security.principal import system_principal
from callvault.security.vault import MasterKey
from callvault.security.vault.runtime import require_master_key, stored_kek_ids
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantCreate
from callvault.webhooks import service as webhooks

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

    from callvault.main import Companion

console = Console(width=160)

INSTITUTIONS = (
    ("demo-bank", "华夏示范银行 Demo Bank", ("admin", "supervisor", "auditor", "agent")),
    ("demo-insurance", "安康示范保险 Demo Insurance", ("admin", "supervisor", "auditor", "agent")),
)
OPERATOR_USERS = ("platform_admin", "team_lead", "agent")
FLOORS: dict[str, FloorPlan] = {"demo-bank": BANK, "demo-insurance": INSURER}


@dataclass
class DemoUser:
    institution: str
    username: str
    role: str
    password: str
    totp_secret: str


def _password() -> str:
    return "Demo-" + secrets.token_urlsafe(9) + "7"


def seed(db: Database) -> list[DemoUser]:
    """Create the demo tenants and users once; later runs reuse them (their credentials file)."""
    cred_file = db.settings.data_dir / "demo-credentials.json"
    with db.scoped() as session:
        operator = tenancy.ensure_operator(session)
        if cred_file.exists() and tenancy.get_by_slug(session, slug=INSTITUTIONS[0][0]) is not None:
            return [DemoUser(**u) for u in json.loads(cred_file.read_text(encoding="utf-8"))]
        op_actor = tenancy.operator_principal(session, name="demo")
        users: list[DemoUser] = []
        for slug, name, roles in INSTITUTIONS:
            if tenancy.get_by_slug(session, slug=slug) is None:
                tenancy.create_tenant(session, actor=op_actor, data=TenantCreate(slug=slug, name=name))
            users += _seed_users(session, slug=slug, roles=roles)
        set_tenant(session, operator.id)
        users += _seed_users(session, slug=operator.slug, roles=OPERATOR_USERS)
    _write_private(cred_file, json.dumps([asdict(u) for u in users], ensure_ascii=False, indent=1))
    return users


def _seed_users(session: Session, *, slug: str, roles: tuple[str, ...]) -> list[DemoUser]:
    inst = tenancy.bind(session, slug=slug)
    actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="demo")
    by_name = {r.name: r for r in session.scalars(select(Role))}
    seeded = []
    for role_name in roles:
        username = role_name.replace("_", "-")
        if identity.get_user_by_username(session, username=username) is not None:
            continue
        password = _password()
        read = identity.create_user(
            session,
            actor=actor,
            data=UserCreate(
                username=username,
                display_name=f"Demo {role_name}",
                password=password,
                role_ids=[by_name[role_name].id],
            ),
        )
        secret = ""
        if by_name[role_name].requires_mfa:
            # Enrolled up front so the printed secret can go straight into an authenticator app.
            secret = auth.provision_totp(session, actor=actor, user_id=read.id)
        seeded.append(
            DemoUser(institution=slug, username=username, role=role_name, password=password, totp_secret=secret)
        )
    return seeded


DEMO_FLOW: dict[str, Any] = {
    "start": "ask",
    "inputs": ["amount"],
    "nodes": {
        "ask": {
            "type": "menu",
            "prompt": {"say": "如果这笔{amount}元的付款是您本人操作请按1。否则请按2。"},
            "options": {"1": "confirmed", "2": "declined"},
            "timeout": 5,
            "retries": 1,
            "on_invalid": "bye",
        },
        "confirmed": {"type": "set", "variables": {"result": "verified"}, "next": "thanks"},
        "declined": {"type": "set", "variables": {"result": "refused"}, "next": "bye"},
        "thanks": {"type": "hangup", "prompt": {"say": "谢谢。再见。"}},
        "bye": {"type": "hangup"},
    },
}


def seed_trigger(db: Database) -> dict[str, str]:
    """Demo Bank's core-banking API client (call.trigger) with its webhook secret and a published verification
    flow, so a signed trigger can be ordered at once; kept in `demo-api-client.json` (0600), created once."""
    path = db.settings.data_dir / "demo-api-client.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return stored
    slug = INSTITUTIONS[0][0]
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="demo")
        client = api_clients.create_client(
            session, actor=actor, data=ApiClientCreate(name="demo-core-banking", permissions=["call.trigger"])
        )
        webhook = webhooks.rotate_secret(session, actor=actor, api_client_id=client.id)
        if ivr.published_flow_named(session, name="verify-payment") is None:
            flow = ivr.create_flow(
                session, actor=actor, data=FlowCreate(name="verify-payment", entry_point="out-verify")
            )
            ivr.save_draft(session, actor=actor, flow_id=flow.id, document=parse_document(DEMO_FLOW))
            ivr.publish(session, actor=actor, flow_id=flow.id, prompt_exists=lambda _: True)
    body = {
        "institution": slug,
        "key_id": client.key_id,
        "secret": client.secret,
        "webhook_secret": webhook.secret,
        "flow": "verify-payment",
    }
    _write_private(path, json.dumps(body, indent=1))
    return body


def _load_generator(db: Database) -> Companion:
    def start(app: FastAPI) -> Callable[[], None]:
        from callvault.demo_load import LoadGenerator

        return LoadGenerator(db, app.state.acd, slugs=list(FLOORS)).start().stop

    return start


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def seed_floors(db: Database) -> list[FloorSummary]:
    """Each institution's floor, created once (see `demo_floor`)."""
    return [seed_floor(db, slug=slug, plan=plan) for slug, plan in FLOORS.items()]


def print_floors(floors: list[FloorSummary], *, load: bool) -> None:
    table = Table("institution", "queues", "IVR flow", "list (contacts)", "campaign (status)", title="Demo floor")
    for f in floors:
        table.add_row(
            f.institution,
            "\n".join(f.queues),
            f.flow,
            f"{f.list_name} ({f.contacts})",
            f"{f.campaign} ({f.campaign_status})",
        )
    console.print(table)
    if load:
        agents = ", ".join(a for a in floors[0].agents if a != "agent") if floors else ""
        console.print(
            f"Load generator on: simulated callers go through each institution's IVR flow main into the queues, "
            f"simulated agents ({agents}) answer, talk and wrap up, so the wallboard (/console/wallboard, "
            "GET /api/v1/acd/stats) is live. The demo user [bold]agent[/] has a seat on both queues too. "
            "`--no-load` turns it off."
        )


def print_users(users: list[DemoUser], *, url: str) -> None:
    table = Table("institution", "username", "role", "password", "TOTP secret", title="Demo users")
    for u in users:
        table.add_row(u.institution, u.username, u.role, u.password, u.totp_secret or "-")
    console.print(table)
    console.print(
        f"Serving on [bold]{url}[/]. Log in with POST {url}/api/v1/auth/login "
        '{"institution": "demo-bank", "username": "admin", "password": "...", "totp": "123456"} '
        '(operator staff leave institution empty). TOTP codes: `python -c "import pyotp; '
        "print(pyotp.TOTP('SECRET').now())\"`."
    )


def run_demo(
    *,
    host: str | None,
    port: int | None,
    serve: bool,
    sip_port: int | None = None,
    sip_worker: str = "127.0.0.1:5600",
    load: bool = True,
) -> None:
    settings = get_settings()
    upgrade(settings)
    key_file = settings.effective_master_key_file
    if not key_file.exists() and not stored_kek_ids(settings):
        # First run: a new 0600 key. Never when keys exist: a new key could not read them.
        key_file.parent.mkdir(parents=True, exist_ok=True)
        MasterKey.generate_to(key_file)
    require_master_key(settings)
    db = Database(settings)
    users = seed(db)
    trigger = seed_trigger(db)
    floors = seed_floors(db)
    # The generator plays telephony's part; with a real SIP engine the calls are real ones.
    load = load and serve and settings.telephony_engine == "sim"
    url = f"http://{host or settings.host}:{port or settings.port}"
    print_users(users, url=url)
    print_floors(floors, load=load)
    console.print(
        f"Trigger API client of {trigger['institution']}: key id {trigger['key_id']} (secret and webhook secret in "
        f"{settings.data_dir / 'demo-api-client.json'}). In the background the demo runs the trigger worker on the "
        "simulated engine (every number answers and presses 1), webhook delivery, campaigns and rating "
        "(docs/services.md)."
    )
    front = None
    if sip_port:
        from callvault.sipedge import demo as sip_demo

        phone = sip_demo.seed(db, slug=INSTITUTIONS[0][0])
        front = sip_demo.start_front(db, address=host or settings.host, port=sip_port, worker=sip_worker)
        worker_host, _, worker_port = sip_worker.rpartition(":")
        # Inbound calls on a sip engine of their own at the worker address; outbound work stays as configured.
        settings = settings.model_copy(
            update={
                "sip_front": f"{host or settings.host}:{sip_port}",
                "sip_address": worker_host or "127.0.0.1",
                "sip_port": int(worker_port),
            }
        )
        console.print(
            f"SIP front on udp:{host or settings.host}:{sip_port} (Kamailio pid {front.pid}), "
            f"media worker {sip_worker}. "
            f"Agent phone: user [bold]{phone.username}[/], domain/realm [bold]{phone.institution}[/], password "
            f"[bold]{phone.password}[/]; calls to {phone.did} go through {phone.institution}'s IVR flow main into "
            "its queues, and ring this phone when the demo user [bold]agent[/] is ready at the agent desk."
        )
    try:
        if serve:
            from callvault.main import run_server

            # The demo institution's webhook endpoint is usually a local test server: let deliveries reach loopback.
            run_server(
                settings.model_copy(update={"webhook_allow_private": True}),
                db,
                host=host,
                port=port,
                companions=[_load_generator(db)] if load else [],
            )
    finally:
        if front is not None:
            front.stop()
        db.dispose()
