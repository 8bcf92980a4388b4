"""A contact center set up through the real API: a supervisor, agents with skills, queues and pause reasons."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from callvault.acd.owner import AcdOwners, TenantOwner
from tests.fixtures import Account, ApiSession, Institution, World


@dataclass
class Center:
    bank: Institution
    supervisor: ApiSession
    agents: dict[str, Account] = field(default_factory=dict)
    sessions: dict[str, ApiSession] = field(default_factory=dict)
    queues: dict[str, uuid.UUID] = field(default_factory=dict)


def owner(app: FastAPI, bank: Institution) -> TenantOwner:
    """The institution's routing owner in the app process (what telephony and the IVR hand calls to)."""
    owners: AcdOwners = app.state.acd
    return owners.of(bank.id, bank.slug)


def center(world: World, login: Any, *, agents: dict[str, dict[str, int]], queues: dict[str, Any]) -> Center:
    bank = world.institution(roles=("supervisor",))
    sup = login(bank.accounts["supervisor"])
    c = Center(bank=bank, supervisor=sup)
    for code in ("lunch", "training"):
        r = sup.post("/api/v1/acd/pause-reasons", json={"code": code, "label": code.title()})
        assert r.status_code == 201, r.text
    for name, body in queues.items():
        r = sup.post("/api/v1/acd/queues", json={"name": name, **body})
        assert r.status_code == 201, r.text
        c.queues[name] = uuid.UUID(r.json()["id"])
    for name, skills in agents.items():
        account = world.user(bank.slug, role="agent", username=f"{name}-{uuid.uuid4().hex[:6]}")
        r = sup.put(f"/api/v1/acd/agents/{account.user_id}/skills", json={"skills": skills, "display_name": name})
        assert r.status_code == 200, r.text
        c.agents[name] = account
        c.sessions[name] = login(account)
    return c
