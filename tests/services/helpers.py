"""A live CallVault (uvicorn on a free loopback port, in a thread, lifespan on), settings for its services, and a
running agentless campaign for them to dial."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from callvault.config import Settings
from callvault.core import clock
from callvault.core.db import Database
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate
from callvault.main import create_app
from callvault.tenancy import service as tenancy
from tests.campaigns.helpers import START, actor, make_list, running_campaign
from tests.fixtures import Institution, World


def service_settings(settings: Settings, *, slug: str, ca_file: Path | None = None, **over: Any) -> Settings:
    """Services on, for one institution only (the test database holds many), fast passes, webhooks to a local
    HTTPS receiver whose self-signed certificate is the trusted CA."""
    values: dict[str, Any] = {
        "services": True,
        "services_tenants": slug,
        "webhook_allow_private": True,
        "webhook_ca_file": ca_file,
        "webhook_interval_seconds": 0.1,
        "trigger_interval_seconds": 0.1,
        "campaign_interval_seconds": 0.2,
        "rating_interval_seconds": 0.5,
        "service_restart_min_seconds": 0.1,
        "cookie_secure": False,
    }
    return settings.model_copy(update=values | over)


@dataclass
class LiveApp:
    url: str
    app: FastAPI


@contextmanager
def live_app(settings: Settings, db: Database) -> Iterator[LiveApp]:
    app = create_app(settings, db=db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "live server did not start"
    try:
        yield LiveApp(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the server did not shut down"


def wait_for(condition: Any, *, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# An agentless campaign's flow: one question, a keypress, goodbye.
FLOW = {
    "start": "ask",
    "language": "zh",
    "nodes": {
        "ask": {
            "type": "menu",
            "prompt": {"say": "如是您本人操作请按1。"},
            "options": {"1": "thanks"},
            "on_invalid": "thanks",
        },
        "thanks": {"type": "hangup", "prompt": {"say": "谢谢。"}},
    },
}


@dataclass(frozen=True)
class AgentlessCampaign:
    institution: Institution
    list_id: uuid.UUID
    numbers: list[str]
    flow_id: uuid.UUID
    campaign_id: uuid.UUID

    @property
    def slug(self) -> str:
        return self.institution.slug

    def settings(self, settings: Settings, **over: Any) -> Settings:
        """The services of this institution with only the campaign runner on (passes of 20 s at most)."""
        values: dict[str, Any] = {
            "service_webhooks": False,
            "service_trigger": False,
            "service_rating": False,
            "campaign_pass_seconds": 20.0,
        }
        return service_settings(settings, slug=self.slug, **(values | over))


def agentless_campaign(world: World, db: Database, *, contacts: int, max_lines: int) -> AgentlessCampaign:
    """Moves the clock to 10:00 in Shanghai (inside the calling window) and sets up a new institution: a list of
    `contacts` numbers, the keypress flow `FLOW` published, and a running agentless verification campaign on the
    list placing at most `max_lines` calls at once."""
    clock.travel((START - clock.now()).total_seconds())
    inst = world.institution(roles=())
    list_id, numbers = make_list(db, inst.slug, contacts)
    who = actor(db, inst.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        flow = ivr.create_flow(session, actor=who, data=FlowCreate(name="confirm", entry_point="confirm-check"))
        ivr.save_draft(session, actor=who, flow_id=flow.id, document=parse_document(FLOW))
        ivr.publish(session, actor=who, flow_id=flow.id)
    campaign_id = running_campaign(
        db,
        inst.slug,
        list_id,
        purpose="verification",
        dialing_mode="agentless",
        ivr_flow_id=flow.id,
        max_lines=max_lines,
    )
    return AgentlessCampaign(inst, list_id, numbers, flow.id, campaign_id)
